"""A ready conditional text generator: a category and a prefix in, texts out; and scoring."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import Tensor, nn
from typing_extensions import Protocol, Self, final, runtime_checkable

from seqlearn._checks import check_int
from seqlearn.artifacts._common import check_texts, encode_all
from seqlearn.artifacts.folder import Artifact, ArtifactError
from seqlearn.artifacts.predictor import Predictor
from seqlearn.data.batching import IGNORE_INDEX, pad_sequences
from seqlearn.decode import (
    BanTokens,
    Generation,
    LogitsProcessor,
    MinP,
    RepetitionPenalty,
    StopReason,
    TopK,
    TopP,
    beam_search,
    greedy,
    sample,
)
from seqlearn.nn.evaluating import evaluating

__all__ = [
    "ConditionalModel",
    "GeneratedText",
    "GenerationTokenizer",
    "Strategy",
    "TextGenerator",
    "TextScore",
]

Strategy = Literal["greedy", "sample", "beam"]
"""How :meth:`TextGenerator.generate` picks tokens: the likeliest one, a draw from the
(processed) distribution, or beam search.

Example:
    >>> from typing import get_args
    >>> get_args(Strategy)
    ('greedy', 'sample', 'beam')
"""


@runtime_checkable
class ConditionalModel(Protocol):
    """What a :class:`TextGenerator`'s model offers, as :class:`~seqlearn.nn.ConditionalLM`
    does: decoding steps from a state that holds the category, and logits over a batch.

    Example:
        >>> from seqlearn.nn import lecture_generator
        >>> isinstance(lecture_generator(), ConditionalModel)
        True
    """

    num_categories: int

    def initial_state(self, categories: Tensor) -> Any:
        """The decoding state for one sequence per category."""
        ...

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """One decoding step."""
        ...

    def __call__(self, tokens: Tensor, lengths: Tensor | None, categories: Tensor) -> Tensor:
        """Next-token logits ``(B, T, V)`` over a padded batch."""
        ...


@runtime_checkable
class GenerationTokenizer(Protocol):
    """What a :class:`TextGenerator`'s tokenizer offers, as
    :class:`~seqlearn.tokenize.CharTokenizer` does: an EOS id (and maybe BOS), encoding and
    decoding.

    Example:
        >>> from seqlearn.tokenize import CharTokenizer
        >>> isinstance(CharTokenizer(), GenerationTokenizer)
        True
    """

    @property
    def eos_id(self) -> int:
        """The end-of-sequence id."""
        ...

    @property
    def bos_id(self) -> int | None:
        """The beginning-of-sequence id, if any."""
        ...

    @property
    def unk_id(self) -> int | None:
        """The unknown-character id, if any (never generated)."""
        ...

    def encode(self, text: str) -> list[int]:
        """The ids of a text."""
        ...

    def decode(self, ids: list[int]) -> str:
        """The text of ids."""
        ...

    @property
    def vocab_size(self) -> int:
        """The number of ids ``V``."""
        ...

    def to_dict(self) -> dict[str, object]:
        """The settings, as JSON."""
        ...


class GeneratedText(NamedTuple):
    """A generated text and the model's log-probabilities of it.

    Attributes:
        text: The prefix and the generated characters.
        logprob: The log-probability (nats) of the generated characters (and EOS, if the
            text ended with it) given the category and the prefix: the model's, before any
            temperature or processor.
        token_logprobs: The log-probability of each generated token, EOS last if any.
        stop_reason: ``"eos"``, or ``"max_length"`` if it was cut at ``max_length``.

    Example:
        >>> GeneratedText("Kim", -1.5, (-1.0, -0.5), "eos").text
        'Kim'
    """

    text: str
    logprob: float
    token_logprobs: tuple[float, ...]
    stop_reason: StopReason


class TextScore(NamedTuple):
    """How likely the model finds a text.

    Attributes:
        text: The text.
        log_likelihood: The sum of :``char_log_likelihoods`` (nats).
        char_log_likelihoods: The log-probability of each predicted character and of the
            final EOS. Without a BOS token the first character is given, not predicted (as
            in training), so there are ``len(ids)`` of them; with BOS, ``len(ids) + 1``.
        per_char: The mean of :``char_log_likelihoods``; minus it is the held-out NLL
            per character the examples report.

    Example:
        >>> TextScore("Kim", -3.0, (-1.0, -1.5, -0.5), -1.0).per_char
        -1.0
    """

    text: str
    log_likelihood: float
    char_log_likelihoods: tuple[float, ...]
    per_char: float


@final
class TextGenerator(Predictor[GenerationTokenizer]):
    """A trained conditional language model with its tokenizer and categories, ready to
    generate and score texts.

    The model is a :class:`~seqlearn.nn.ConditionalLM` (or any module with its
    ``initial_state(categories)``, ``step(tokens, state)`` and ``forward(tokens, lengths,
    categories)``). Generation runs every decoding strategy of :mod:`seqlearn.decode` under
    :func:`torch.inference_mode` in eval mode; a tokenizer's UNK token (for characters
    outside a learned alphabet) is never generated.

    Args:
        model: The conditional language model.
        tokenizer: Its character tokenizer (``eos_id``, ``bos_id``, ``encode``, ``decode``).
        categories: The name of each category, in id order.
        metadata: Saved with the model (see :class:`~seqlearn.artifacts.Predictor`).

    Raises:
        TypeError: If the model or tokenizer lacks what generation needs.
        ValueError: If the number of categories differs from the model's.

    Example:
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.tokenize import CharTokenizer
        >>> generator = TextGenerator(lecture_generator(num_categories=2), CharTokenizer(),
        ...                           ["French", "German"])
        >>> names = generator.generate("French", n=3, prefix="K", seed=0)
        >>> len(names), all(name.startswith("K") for name in names)
        (3, True)
        >>> score = generator.score(["Karl"], category="German")[0]
        >>> len(score.char_log_likelihoods)  # 'a', 'r', 'l' and EOS, given the 'K'
        4
    """

    task: ClassVar[str] = "conditional-generation"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: GenerationTokenizer,
        categories: Sequence[str],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module) or not isinstance(model, ConditionalModel):
            raise TypeError(
                "model must be a module with initial_state(categories), step(tokens, state) "
                f"and num_categories, such as ConditionalLM; got {type(model).__name__}"
            )
        if not isinstance(tokenizer, GenerationTokenizer):
            raise TypeError(
                "tokenizer must have eos_id, bos_id, encode and decode, such as "
                f"CharTokenizer; got {type(tokenizer).__name__}"
            )
        if isinstance(categories, str) or len(categories) != model.num_categories:
            raise ValueError(
                f"expected {model.num_categories} category names (the model's), got "
                f"{categories!r:.200}"
            )
        super().__init__(model, tokenizer, categories, metadata=metadata)
        self._lm: ConditionalModel = model  # the same module, typed by what generation uses

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """The generator an artifact holds, after checking that it is one.

        Args:
            artifact: As :func:`~seqlearn.artifacts.read_artifact` returns it.

        Returns:
            The generator.

        Raises:
            ArtifactError: If the artifact is not a generator, its parts do not fit, or its
                model does not run on one token or gives logits of another size than the
                tokenizer's vocabulary.
        """
        config = artifact.path / "config.json"
        if artifact.task != cls.task:
            raise ArtifactError(f"{config}: task {artifact.task!r}, not {cls.task!r}")
        try:
            generator = cls(
                artifact.model,
                artifact.tokenizer,
                artifact.labels or [],
                metadata=artifact.metadata,
            )
        except (TypeError, ValueError) as error:
            raise ArtifactError(f"{config}: {error}") from error
        one = torch.zeros(1, dtype=torch.long)
        try:
            with evaluating(artifact.model):
                logits = artifact.model(one.view(1, 1), one, one)  # (1, 1, V)
        except Exception as error:  # a model that cannot run is a broken artifact
            raise ArtifactError(
                f"{config}: the model does not run on one token: {error}"
            ) from error
        vocab_size = generator.tokenizer.vocab_size
        if not isinstance(logits, Tensor) or logits.shape != (1, 1, vocab_size):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ArtifactError(
                f"{config}: the model gives logits of shape {shape} for one token, expected "
                f"(1, 1, {vocab_size}): one per id of the tokenizer"
            )
        return generator

    @property
    def categories(self) -> list[str]:
        """The category names, in id order (the artifact's labels)."""
        return self.labels

    def generate(
        self,
        category: str,
        *,
        n: int = 1,
        prefix: str = "",
        strategy: Strategy = "sample",
        max_length: int = 20,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        min_p: float | None = None,
        repetition_penalty: float | None = None,
        processors: Sequence[LogitsProcessor] = (),
        beam_width: int = 4,
        length_penalty: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """Generate ``n`` texts of a category that start with ``prefix``.

        Args:
            category: One of :attr:`categories`.
            n: How many texts: draws (``"sample"``), or the best hypotheses (``"beam"``);
                ``"greedy"`` makes one.
            prefix: The start of every text; may be empty only with a BOS token.
            strategy: ``"greedy"``, ``"sample"`` or ``"beam"``.
            max_length: The most characters generated after the prefix.
            temperature: Divides the logits before sampling (``"sample"`` only).
            top_k: Keep only the ``k`` likeliest tokens (:class:`~seqlearn.decode.TopK`).
            top_p: Nucleus filtering (:class:`~seqlearn.decode.TopP`).
            min_p: Drop tokens below ``min_p`` times the top one's probability
                (:class:`~seqlearn.decode.MinP`).
            repetition_penalty: :class:`~seqlearn.decode.RepetitionPenalty`.
            processors: More logits processors, applied after the ones above, in order
                (e.g. :class:`~seqlearn.decode.BanTokens`, :class:`~seqlearn.decode.MinLength`).
            beam_width: Hypotheses kept by beam search, at least ``n``.
            length_penalty: Beam search's length penalty.
            seed: Seed for sampling; the same seed gives the same texts.

        Returns:
            ``n`` texts (the prefix included).

        Raises:
            ValueError: If the category is unknown, the prefix encodes to nothing (or is
                empty without BOS), or an option is out of range.
            TypeError: If an option has the wrong type.
        """
        out = self._decode(
            category, n, prefix, strategy, max_length, temperature,
            _processors(top_k, top_p, min_p, repetition_penalty, processors),
            beam_width, length_penalty, seed,
        )  # fmt: skip
        return list(out.texts or [])

    def generate_with_logprobs(
        self,
        category: str,
        *,
        n: int = 1,
        prefix: str = "",
        strategy: Strategy = "sample",
        max_length: int = 20,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        min_p: float | None = None,
        repetition_penalty: float | None = None,
        processors: Sequence[LogitsProcessor] = (),
        beam_width: int = 4,
        length_penalty: float = 0.0,
        seed: int | None = None,
    ) -> list[GeneratedText]:
        """As :meth:`generate`, with the model's log-probabilities of each text.

        Args:
            category: As :meth:`generate`.
            n: As :meth:`generate`.
            prefix: As :meth:`generate`.
            strategy: As :meth:`generate`.
            max_length: As :meth:`generate`.
            temperature: As :meth:`generate`.
            top_k: As :meth:`generate`.
            top_p: As :meth:`generate`.
            min_p: As :meth:`generate`.
            repetition_penalty: As :meth:`generate`.
            processors: As :meth:`generate`.
            beam_width: As :meth:`generate`.
            length_penalty: As :meth:`generate`.
            seed: As :meth:`generate`.

        Returns:
            ``n`` texts with their log-probabilities and stop reasons.

        Raises:
            ValueError: As :meth:`generate`.
            TypeError: As :meth:`generate`.

        Example:
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.tokenize import CharTokenizer
            >>> generator = TextGenerator(lecture_generator(num_categories=1), CharTokenizer(),
            ...                           ["English"])
            >>> best = generator.generate_with_logprobs("English", prefix="A", n=2,
            ...                                         strategy="beam", max_length=5)
            >>> best[0].logprob >= best[1].logprob
            True
        """
        out = self._decode(
            category, n, prefix, strategy, max_length, temperature,
            _processors(top_k, top_p, min_p, repetition_penalty, processors),
            beam_width, length_penalty, seed,
        )  # fmt: skip
        return [
            GeneratedText(text, logprob, tuple(token_logprobs), reason)
            for text, logprob, token_logprobs, reason in zip(
                out.texts or [], out.logprobs, out.token_logprobs, out.stop_reasons
            )
        ]

    def _decode(
        self,
        category: str,
        n: int,
        prefix: str,
        strategy: Strategy,
        max_length: int,
        temperature: float,
        processors: list[LogitsProcessor],
        beam_width: int,
        length_penalty: float,
        seed: int | None,
    ) -> Generation:
        index = self._category_index(category)
        if check_int("n", n) < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        ids = self._tokenizer.encode(prefix)
        bos_id = self._tokenizer.bos_id
        if not ids and bos_id is None:
            raise ValueError(
                f"prefix {prefix!r} gives no ids and the tokenizer has no BOS token to start "
                "from: give the first character(s) of the texts"
            )
        device = self.device
        state = self._lm.initial_state(torch.tensor([index], device=device))
        unk_id = self._tokenizer.unk_id
        if unk_id is not None:  # an unknown character is read, never written
            processors = [BanTokens([unk_id]), *processors]
        options: dict[str, Any] = {
            "eos_id": self._tokenizer.eos_id,
            "max_new_tokens": max_length,
            "bos_id": bos_id,
            "processors": processors,
            "decode": self._tokenizer.decode,
        }
        with evaluating(self._model):
            if strategy == "greedy":
                if n != 1:
                    raise ValueError(f"greedy decoding makes one text; got n={n}")
                return greedy(self._lm, state, [ids], **options)
            if strategy == "beam":
                if n > beam_width:
                    raise ValueError(f"n={n} needs beam_width >= {n}, got {beam_width}")
                return beam_search(
                    self._lm,
                    state,
                    [ids],
                    beam_width=beam_width,
                    num_return_sequences=n,
                    length_penalty=length_penalty,
                    **options,
                )
            if strategy != "sample":
                raise ValueError(f"strategy must be 'greedy', 'sample' or 'beam', got {strategy!r}")
            generator = None
            if seed is not None:
                generator = torch.Generator(device).manual_seed(check_int("seed", seed))
            return sample(
                self._lm,
                state,
                [ids],
                temperature=temperature,
                num_samples=n,
                generator=generator,
                **options,
            )

    def score(self, texts: Sequence[str], *, category: str | Sequence[str]) -> list[TextScore]:
        """The model's log-likelihood of each text, in total and per character.

        Each text is scored as the model was trained: given the category (and BOS, or
        else the text's first character), every following character and the final EOS is
        predicted.

        Args:
            texts: Any number of texts.
            category: One category for all texts, or one per text.

        Returns:
            One :class:`TextScore` per text, in the order given.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string.
            ValueError: If a category is unknown or their number does not match.
            UnencodableTextError: If the tokenizer cannot encode some texts (naming them).
        """
        texts = check_texts(texts)
        if isinstance(category, str):
            indices = [self._category_index(category)] * len(texts)
        else:
            if len(category) != len(texts):
                raise ValueError(f"expected {len(texts)} categories, got {len(category)}")
            indices = [self._category_index(name) for name in category]
        rows = encode_all(texts, self._tokenizer.encode)
        if not rows:
            return []
        bos_id, eos_id = self._tokenizer.bos_id, self._tokenizer.eos_id
        inputs = [ids if bos_id is None else [bos_id, *ids] for ids in rows]
        targets = [[*(ids if bos_id is None else [bos_id, *ids])[1:], eos_id] for ids in rows]
        device = self.device
        tokens, lengths = pad_sequences(inputs)
        wanted, _ = pad_sequences(targets, padding_value=IGNORE_INDEX)
        with evaluating(self._model):
            logits = self._lm(  # (B, T, V)
                tokens.to(device), lengths.to(device), torch.tensor(indices, device=device)
            )
            logprobs = logits.float().log_softmax(dim=-1).cpu()
        picked = logprobs.gather(2, wanted.clamp(min=0).unsqueeze(2)).squeeze(2)  # (B, T)
        scores = []
        for text, row, length in zip(texts, picked.tolist(), lengths.tolist()):
            values = tuple(row[:length])
            total = float(sum(values))
            scores.append(TextScore(text, total, values, total / len(values)))
        return scores

    def _category_index(self, category: object) -> int:
        if not isinstance(category, str) or category not in self._labels:
            raise ValueError(f"unknown category {category!r}; the model knows {self._labels}")
        return self._labels.index(category)

    def to_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Export the model's one-step function to ONNX (needs the ``export`` extra).

        See :func:`~seqlearn.artifacts.export_generator` for the graph's inputs and
        outputs.

        Args:
            path: The ``.onnx`` file to write.

        Returns:
            The file.
        """
        from seqlearn.artifacts.onnx import export_generator

        return export_generator(self, path)


def _processors(
    top_k: int | None,
    top_p: float | None,
    min_p: float | None,
    repetition_penalty: float | None,
    more: Sequence[LogitsProcessor],
) -> list[LogitsProcessor]:
    chain: list[LogitsProcessor] = []
    if repetition_penalty is not None:
        chain.append(RepetitionPenalty(repetition_penalty))
    if top_k is not None:
        chain.append(TopK(top_k))
    if top_p is not None:
        chain.append(TopP(top_p))
    if min_p is not None:
        chain.append(MinP(min_p))
    return [*chain, *more]
