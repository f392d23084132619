"""What a training run measured, epoch by epoch."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from typing_extensions import Self

__all__ = ["EpochRecord", "History"]


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
    """

    epoch: int
    train_loss: float
    valid_loss: float | None
    seconds: float
    learning_rate: float


@dataclass
class History:
    """The records of a training run, one per epoch, with JSON save and load.

    Example:
        >>> history = History()
        >>> history.append(EpochRecord(1, 2.5, 2.4, 3.0, 0.01))
        >>> history.train_loss, history.valid_loss, history.total_seconds
        ([2.5], [2.4], 3.0)
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

    def to_dict(self) -> dict[str, list[dict[str, float | int | None]]]:
        """The history as plain JSON-ready data."""
        return {"records": [asdict(record) for record in self.records]}

    @classmethod
    def from_dict(cls, data: dict[str, list[dict[str, float | int | None]]]) -> Self:
        """Rebuild a history from :meth:`to_dict`'s output.

        Args:
            data: A mapping with a ``"records"`` list.

        Returns:
            The history.

        Raises:
            ValueError: If a record lacks a field or has an unknown one.
        """
        try:
            return cls([EpochRecord(**record) for record in data["records"]])  # type: ignore[arg-type]
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a seqlearn training history: {error}") from error

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the history as JSON.

        Args:
            path: File to write.
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
        """
        with open(path, encoding="utf-8") as file:
            return cls.from_dict(json.load(file))
