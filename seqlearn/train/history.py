"""What a training run measured, epoch by epoch: loss, accuracy, perplexity, time."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from typing_extensions import Self

__all__ = ["EpochRecord", "History", "Split"]

Split = Literal["train", "valid"]
"""Which figures: those measured while training, or on validation data.

Example:
    >>> history = History([EpochRecord(1, 2.0, 1.5, seconds=1.0, learning_rate=0.1)])
    >>> history.perplexity("train"), history.perplexity("valid")  # doctest: +ELLIPSIS
    ([7.389...], [4.481...])
"""


@dataclass(frozen=True)
class EpochRecord:
    """Figures of one epoch.

    Args:
        epoch: 1-based epoch number.
        train_loss: Mean training loss per counted item (token or sequence) over the epoch,
            measured while the weights changed, as the lecture reports it.
        valid_loss: Mean validation loss after the epoch, or ``None`` without validation.
        seconds: Wall-clock seconds spent training in this epoch (validation excluded).
        learning_rate: The first parameter group's learning rate at the end of the epoch.
        train_accuracy: Share of training items labelled right, for classifiers.
        valid_accuracy: Share of validation items labelled right, for classifiers.
        steps: Optimiser steps taken since training began, at the end of the epoch.
        skipped_steps: Optimiser steps cancelled in this epoch: by ``on_divergence="skip"``
            when the loss or a gradient was not finite, or by a callback raising
            :class:`~seqlearn.train.CancelStep`.

    Example:
        >>> record = EpochRecord(1, train_loss=2.1, valid_loss=2.3, seconds=4.0, learning_rate=0.1)
        >>> record.value("valid_loss"), record.value("valid_accuracy")
        (2.3, None)
    """

    epoch: int
    train_loss: float
    valid_loss: float | None
    seconds: float
    learning_rate: float
    train_accuracy: float | None = None
    valid_accuracy: float | None = None
    steps: int = 0
    skipped_steps: int = 0

    def value(self, name: str) -> float | None:
        """A figure by name, e.g. ``"valid_loss"`` or ``"train_accuracy"``.

        Args:
            name: A field name of this record.

        Returns:
            The figure (``None`` where it was not measured).

        Raises:
            ValueError: If ``name`` is not a figure of the record.

        Example:
            >>> record = EpochRecord(3, 1.2, 1.4, seconds=2.0, learning_rate=0.1, steps=30)
            >>> record.value("valid_loss"), record.value("steps"), record.value("train_accuracy")
            (1.4, 30.0, None)
        """
        if name not in {item.name for item in fields(self)}:
            raise ValueError(f"unknown figure {name!r}; records have {_field_names()}")
        value = getattr(self, name)
        return None if value is None else float(value)


def _field_names() -> list[str]:
    return [item.name for item in fields(EpochRecord)]


@dataclass
class History:
    """The records of a training run, one per epoch, with JSON save/load and a plot.

    Example:
        >>> history = History()
        >>> history.append(EpochRecord(1, 2.5, 2.4, 3.0, 0.01))
        >>> history.train_loss, history.valid_loss, history.total_seconds
        ([2.5], [2.4], 3.0)
        >>> [round(p, 2) for p in history.perplexity("valid")]
        [11.02]
    """

    records: list[EpochRecord] = field(default_factory=list)

    def append(self, record: EpochRecord) -> None:
        """Add the record of the next epoch.

        Args:
            record: The epoch's figures.
        """
        self.records.append(record)

    @property
    def train_loss(self) -> list[float]:
        """Training loss per epoch."""
        return [record.train_loss for record in self.records]

    @property
    def valid_loss(self) -> list[float | None]:
        """Validation loss per epoch (``None`` where there was none)."""
        return [record.valid_loss for record in self.records]

    @property
    def epoch_seconds(self) -> list[float]:
        """Training seconds per epoch, validation excluded."""
        return [record.seconds for record in self.records]

    @property
    def total_seconds(self) -> float:
        """Training seconds over all epochs, validation excluded."""
        return sum(self.epoch_seconds)

    def accuracy(self, split: Split) -> list[float | None]:
        """Accuracy per epoch on ``split`` (``None`` where not measured).

        Args:
            split: ``"train"`` or ``"valid"``.

        Returns:
            One figure per epoch.

        Example:
            >>> history = History([EpochRecord(1, 0.9, 1.1, 2.0, 0.1, 0.6, 0.55)])
            >>> history.accuracy("train"), history.accuracy("valid")
            ([0.6], [0.55])
        """
        return [record.value(f"{split}_accuracy") for record in self.records]

    def perplexity(self, split: Split) -> list[float]:
        """``exp(loss)`` per epoch: the perplexity when the loss is per-token NLL in nats.

        Args:
            split: ``"train"`` or ``"valid"``.

        Returns:
            One figure per epoch (``nan`` where the loss was not measured).
        """
        losses = [record.value(f"{split}_loss") for record in self.records]
        return [math.nan if loss is None else math.exp(min(loss, 700.0)) for loss in losses]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """The history as plain JSON-ready data.

        Example:
            >>> data = History([EpochRecord(1, 2.5, None, 3.0, 0.01)]).to_dict()
            >>> data["records"][0]["train_loss"], data["records"][0]["valid_loss"]
            (2.5, None)
        """
        return {"records": [asdict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a history from :meth:`to_dict`'s output.

        Args:
            data: A mapping with a ``"records"`` list.

        Returns:
            The history.

        Raises:
            ValueError: If a record lacks a field or has an unknown one.

        Example:
            >>> history = History([EpochRecord(1, 2.5, 2.4, 3.0, 0.01)])
            >>> History.from_dict(history.to_dict()) == history
            True
        """
        try:
            return cls([EpochRecord(**record) for record in data["records"]])
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a seqlearn training history: {error}") from error

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON.

        Args:
            path: File to write.

        Example:
            >>> import tempfile
            >>> history = History([EpochRecord(1, 2.5, 2.4, 3.0, 0.01)])
            >>> with tempfile.TemporaryDirectory() as root:
            ...     history.save(f"{root}/history.json")
            ...     History.load(f"{root}/history.json") == history
            True
        """
        with open(path, "w", encoding="utf-8") as file:
            json.dump(self.to_dict(), file, indent=2)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a history written by :meth:`save`.

        Args:
            path: File to read.

        Returns:
            The history.

        Example:
            >>> import json, tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     with open(f"{root}/history.json", "w") as file:
            ...         json.dump(History([EpochRecord(1, 2.5, 2.4, 3.0, 0.01)]).to_dict(), file)
            ...     History.load(f"{root}/history.json").valid_loss
            [2.4]
        """
        with open(path, encoding="utf-8") as file:
            return cls.from_dict(json.load(file))

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Plot train and validation loss (and accuracy, if measured) against epoch to a PNG.

        Needs matplotlib (the ``plot`` extra).

        Args:
            path: The PNG file to write.

        Returns:
            The path written.

        Raises:
            ImportError: If matplotlib is not installed.
        """
        plt = _pyplot()
        has_accuracy = any(value is not None for value in self.accuracy("train"))
        figure, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(10, 4), squeeze=False)
        epochs = [record.epoch for record in self.records]
        train_loss: list[float | None] = list(self.train_loss)
        panels = [("loss", train_loss, self.valid_loss)]
        if has_accuracy:
            panels.append(("accuracy", self.accuracy("train"), self.accuracy("valid")))
        for axis, (name, train, valid) in zip(axes[0], panels):
            axis.plot(epochs, _nan_for_none(train), marker="o", label=f"train {name}")
            if any(value is not None for value in valid):
                axis.plot(epochs, _nan_for_none(valid), marker="o", label=f"validation {name}")
            axis.xaxis.set_major_locator(_integer_ticks())
            axis.set_xlabel("epoch")
            axis.set_ylabel(name)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return Path(path)


def _nan_for_none(values: list[float | None]) -> list[float]:
    return [math.nan if value is None else value for value in values]


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend, or a clear ImportError."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib: the plot extra (pip install -e '.[plot]' in a clone of "
            "seqlearn), or pip install matplotlib"
        ) from error
    return plt
