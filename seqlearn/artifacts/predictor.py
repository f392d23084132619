"""What every ready predictor shares: its parts, a device, saving and loading."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch
from torch import nn
from typing_extensions import Self

from seqlearn.artifacts.folder import Artifact, read_artifact, save_artifact
from seqlearn.train.devices import resolve_device

__all__ = ["Predictor"]

TokenizerT = TypeVar("TokenizerT")


class Predictor(ABC, Generic[TokenizerT]):
    """Abstract base of the ready predictors: a trained model with its tokenizer and the
    names of its labels, which saves as an artifact folder and loads back.

    :class:`~seqlearn.artifacts.TextClassifier` and
    :class:`~seqlearn.artifacts.TextGenerator` are predictors; :func:`seqlearn.load
    <seqlearn.artifacts.load>` returns the one that an artifact's task names.

    Args:
        model: The trained model.
        tokenizer: Its tokenizer.
        labels: The name of each class (or category), in id order.
        metadata: Anything JSON can hold (training metrics, the data's provenance), saved
            with the model and read back with it.

    Example:
        >>> from seqlearn.artifacts import TextClassifier
        >>> issubclass(TextClassifier, Predictor)
        True
    """

    task: ClassVar[str]
    """The task name saved in the artifact's ``config.json``."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: TokenizerT,
        labels: Sequence[str],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._labels = [str(label) for label in labels]
        self.metadata: dict[str, Any] = dict(metadata or {})
        """The metadata saved with the model (what :func:`~seqlearn.artifacts.load` read)."""

    @classmethod
    @abstractmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """The predictor an artifact holds, after checking that it is one of this kind.

        Args:
            artifact: As :func:`~seqlearn.artifacts.read_artifact` returns it.

        Returns:
            The predictor.

        Raises:
            ArtifactError: If the artifact is of another task or its parts do not fit.
        """

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Self:
        """Load a predictor of this kind saved with :meth:`save`.

        Args:
            path: The artifact folder.
            device: Where to put the model (see :meth:`to`).

        Returns:
            The predictor.

        Raises:
            ArtifactError: If the folder is not a valid artifact of this kind.
        """
        return cls.from_artifact(read_artifact(path)).to(device)

    @property
    def model(self) -> nn.Module:
        """The underlying model."""
        return self._model

    @property
    def tokenizer(self) -> TokenizerT:
        """The tokenizer."""
        return self._tokenizer

    @property
    def labels(self) -> list[str]:
        """The label (or category) names, in id order."""
        return list(self._labels)

    @property
    def device(self) -> torch.device:
        """The device the model is on (the CPU for a model without parameters)."""
        first = next(self._model.parameters(), None)
        return torch.device("cpu") if first is None else first.device

    def to(self, device: str | torch.device) -> Self:
        """Move the model to ``device``; returns this predictor.

        Args:
            device: ``"auto"`` (CUDA, then MPS, then the CPU), ``"cpu"``, ``"cuda"``,
                ``"mps"`` or a :class:`torch.device`.

        Returns:
            This predictor.

        Raises:
            ValueError: If the device is not available here.
        """
        self._model.to(resolve_device(device))
        return self

    def save(
        self, path: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None
    ) -> Path:
        """Save as an artifact folder, which :func:`~seqlearn.artifacts.load` reads back.

        Args:
            path: The folder (see :func:`~seqlearn.artifacts.save_artifact`).
            metadata: Anything JSON can hold, e.g. training metrics; ``None`` saves
                :attr:`metadata`.

        Returns:
            The folder.
        """
        return save_artifact(
            path,
            self._model,
            task=self.task,
            tokenizer=self._tokenizer,  # type: ignore[arg-type]
            labels=self._labels,
            metadata=self.metadata if metadata is None else metadata,
        )

    @abstractmethod
    def to_onnx(self, path: str | os.PathLike[str]) -> Path:
        """Export the model to ONNX (needs the ``export`` extra).

        Args:
            path: The ``.onnx`` file to write.

        Returns:
            The file.
        """

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({type(self._model).__name__}, {len(self._labels)} "
            f"labels, device={self.device})"
        )
