"""A ready text classifier: texts in, labels with their probabilities out."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from typing_extensions import Self, final

from seqlearn._checks import check_int
from seqlearn.artifacts._common import check_texts, encode_all
from seqlearn.artifacts.folder import Artifact, ArtifactError
from seqlearn.artifacts.predictor import Predictor
from seqlearn.data.batching import pad_sequences
from seqlearn.nn.evaluating import evaluating
from seqlearn.tokenize.protocol import Tokenizer

__all__ = ["Prediction", "TextClassifier"]


class Prediction(NamedTuple):
    """The likeliest labels of one text, likeliest first.

    Attributes:
        text: The text.
        labels: The ``top_k`` likeliest labels.
        probabilities: Their probabilities.

    Example:
        >>> prediction = Prediction("Nguyen", ("Vietnamese", "Chinese"), (0.9, 0.05))
        >>> prediction.label, prediction.probability
        ('Vietnamese', 0.9)
    """

    text: str
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]

    @property
    def label(self) -> str:
        """The likeliest label."""
        return self.labels[0]

    @property
    def probability(self) -> float:
        """The likeliest label's probability."""
        return self.probabilities[0]


@final
class TextClassifier(Predictor[Tokenizer]):
    """A trained classifier with its tokenizer and label names, ready to predict.

    The model is any module mapping a padded batch of ids ``(B, T)`` and lengths ``(B,)``
    to logits ``(B, C)``, such as :class:`~seqlearn.nn.SequenceClassifier`. Texts are
    encoded by the tokenizer, sorted by length and run in batches of ``batch_size`` under
    :func:`torch.inference_mode` in eval mode; results come back in the order given. A text
    the tokenizer cannot encode (a character outside its alphabet under ``oov="error"``,
    or nothing left after dropping) stops the call with an
    :class:`~seqlearn.artifacts.UnencodableTextError` naming every such text: no text is
    silently skipped.

    Args:
        model: The classifier.
        tokenizer: Its tokenizer.
        labels: The name of each class, in id order.
        batch_size: Texts per batch.
        metadata: Saved with the model (see :class:`~seqlearn.artifacts.Predictor`).

    Raises:
        ValueError: If ``labels`` is empty or ``batch_size`` not positive.

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_classifier
        >>> from seqlearn.tokenize import CharTokenizer
        >>> classifier = TextClassifier(lecture_classifier(num_classes=2), CharTokenizer(),
        ...                             ["Greek", "Irish"])
        >>> predictions = classifier.predict(["Papadopoulos", "Murphy"], top_k=2)
        >>> [sorted(p.labels) for p in predictions]
        [['Greek', 'Irish'], ['Greek', 'Irish']]
        >>> classifier.predict_proba(["Murphy"]).shape
        torch.Size([1, 2])
    """

    task: ClassVar[str] = "text-classification"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Tokenizer,
        labels: Sequence[str],
        *,
        batch_size: int = 256,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(labels, str) or len(labels) == 0:
            raise ValueError(f"labels must be a non-empty sequence of names, got {labels!r}")
        if check_int("batch_size", batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        super().__init__(model, tokenizer, labels, metadata=metadata)
        self.batch_size = batch_size

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """The classifier an artifact holds, after checking that it is one.

        Args:
            artifact: As :func:`~seqlearn.artifacts.read_artifact` returns it.

        Returns:
            The classifier.

        Raises:
            ArtifactError: If the artifact is not a classifier, has no labels, or its model
                does not run on one token or gives another number of logits than it has
                labels.
        """
        config = artifact.path / "config.json"
        if artifact.task != cls.task:
            raise ArtifactError(f"{config}: task {artifact.task!r}, not {cls.task!r}")
        if not artifact.labels:
            raise ArtifactError(f"{config}: a classifier needs 'labels', got none")
        classifier = cls(
            artifact.model, artifact.tokenizer, artifact.labels, metadata=artifact.metadata
        )
        one = torch.ones(1, dtype=torch.long)
        try:
            with evaluating(artifact.model):
                logits = artifact.model(one.view(1, 1), one)  # one token: (1, C)
        except Exception as error:  # a model that cannot run is a broken artifact
            raise ArtifactError(
                f"{config}: the model does not run on one token: {error}"
            ) from error
        width = logits.size(-1) if isinstance(logits, Tensor) and logits.dim() == 2 else -1
        if width != len(artifact.labels):
            raise ArtifactError(
                f"{config}: {len(artifact.labels)} labels for a model with {width} outputs"
            )
        return classifier

    def predict_proba(self, texts: Sequence[str]) -> Tensor:
        """The probability of every label for every text.

        Args:
            texts: Any number of texts.

        Returns:
            A float32 CPU tensor ``(N, C)``; row ``i`` belongs to ``texts[i]`` and sums to 1.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string.
            UnencodableTextError: If the tokenizer cannot encode some texts (naming them).
        """
        rows = encode_all(check_texts(texts), self._tokenizer.encode)
        probabilities = torch.zeros(len(rows), len(self._labels))
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # longest first
        device = self.device
        with evaluating(self._model):
            for start in range(0, len(order), self.batch_size):
                chosen = order[start : start + self.batch_size]
                tokens, lengths = pad_sequences([rows[i] for i in chosen])
                logits = self._model(tokens.to(device), lengths.to(device))  # (B, C)
                if logits.shape != (len(chosen), len(self._labels)):
                    raise ValueError(
                        f"the model returned logits of shape {tuple(logits.shape)}, expected "
                        f"({len(chosen)}, {len(self._labels)}): one per label"
                    )
                probabilities[chosen] = logits.float().softmax(dim=-1).cpu()
        return probabilities

    def predict(self, texts: Sequence[str], *, top_k: int = 1) -> list[Prediction]:
        """The ``top_k`` likeliest labels of each text, with their probabilities.

        Args:
            texts: Any number of texts.
            top_k: How many labels per text, from 1 to the number of labels.

        Returns:
            One :class:`Prediction` per text, in the order given.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string, or ``top_k``
                is not an int.
            ValueError: If ``top_k`` is out of range.
            UnencodableTextError: If the tokenizer cannot encode some texts (naming them).

        Example:
            >>> from seqlearn.nn import lecture_classifier
            >>> from seqlearn.tokenize import CharTokenizer
            >>> classifier = TextClassifier(lecture_classifier(num_classes=3),
            ...                             CharTokenizer(), ["a", "b", "c"])
            >>> prediction = classifier.predict(["Kim"], top_k=3)[0]
            >>> prediction.text, len(prediction.labels), round(sum(prediction.probabilities), 4)
            ('Kim', 3, 1.0)
        """
        if not 1 <= check_int("top_k", top_k) <= len(self._labels):
            raise ValueError(f"top_k must be in [1, {len(self._labels)}], got {top_k}")
        probabilities = self.predict_proba(texts)
        best, ids = probabilities.topk(top_k, dim=-1)  # (N, k)
        return [
            Prediction(
                text,
                tuple(self._labels[i] for i in row_ids),
                tuple(float(p) for p in row_best),
            )
            for text, row_ids, row_best in zip(texts, ids.tolist(), best.tolist())
        ]

    def to_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Export the model to ONNX (needs the ``export`` extra).

        The graph takes ``tokens`` (int64, ``(B, T)``) and ``lengths`` (int64, ``(B,)``)
        and returns ``logits`` (float32, ``(B, C)``), with ``B`` and ``T`` free. The file's
        metadata holds the labels and the tokenizer's settings as JSON. See
        :func:`~seqlearn.artifacts.export_classifier`.

        Args:
            path: The ``.onnx`` file to write.

        Returns:
            The file.
        """
        from seqlearn.artifacts.onnx import export_classifier

        return export_classifier(self, path)
