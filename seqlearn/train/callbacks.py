"""Callbacks most runs need: early stopping, model checkpoints, learning-rate schedules, a
time limit.

Each is a :class:`~seqlearn.train.Callback` (see :mod:`seqlearn.train.events` for the
events and their order). An epoch ends in two rounds: every callback's
:meth:`~seqlearn.train.Callback.on_epoch_end` (schedules step, early stopping decides), then
every callback's :meth:`~seqlearn.train.Callback.on_epoch_finished`, when the epoch's state
is final; that is where :class:`ModelCheckpoint` saves, so a checkpoint holds every
callback's state after the epoch, whatever the order the callbacks were given in. A
callback that keeps state across epochs returns it from
:meth:`~seqlearn.train.Callback.state_dict`, so checkpoints carry it and resuming restores
it.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from typing_extensions import final, override

from seqlearn.train import distributed
from seqlearn.train.events import Callback as Callback  # its home before events.py
from seqlearn.train.events import CancelFit, TrainerView
from seqlearn.train.history import EpochRecord, History

__all__ = ["EarlyStopping", "LearningRateScheduler", "ModelCheckpoint", "TimeLimit"]

logger = logging.getLogger(__name__)


def _mode_for(monitor: str, mode: Literal["min", "max"] | None) -> Literal["min", "max"]:
    if mode is not None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        return mode
    return "max" if monitor.endswith("accuracy") else "min"


def _improved(value: float, best: float, mode: str, min_delta: float) -> bool:
    return value < best - min_delta if mode == "min" else value > best + min_delta


@final
class EarlyStopping(Callback):
    """Stop when a monitored figure has not improved for ``patience`` epochs.

    Args:
        monitor: A figure of :class:`~seqlearn.train.EpochRecord`, e.g. ``"valid_loss"``.
        patience: Epochs without improvement to allow before stopping.
        min_delta: How much better a figure must be to count as an improvement.
        mode: ``"min"`` or ``"max"``; by default ``"max"`` for accuracies, else ``"min"``.
        restore_best_weights: Load the weights of the best epoch when training stops.

    Raises:
        ValueError: If ``patience`` is negative or ``mode`` is unknown.

    Example:
        >>> stopper = EarlyStopping("valid_loss", patience=2)
        >>> stopper.mode
        'min'
    """

    def __init__(
        self,
        monitor: str = "valid_loss",
        *,
        patience: int = 3,
        min_delta: float = 0.0,
        mode: Literal["min", "max"] | None = None,
        restore_best_weights: bool = False,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience!r}")
        _check_monitor(monitor)
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta
        self.mode = _mode_for(monitor, mode)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict[str, Tensor] | None = None

    @override
    def on_epoch_end(self, trainer: TrainerView, record: EpochRecord) -> None:
        value = record.value(self.monitor)
        if value is None or math.isnan(value):
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which was not measured")
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, record.epoch, 0
            if self.restore_best_weights:
                self.best_weights = _cpu_copy(trainer.model.state_dict())
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_training = True
            logger.info(
                "early stopping after epoch %d: %s has not improved on %.4f (epoch %d) for %d "
                "epochs",
                record.epoch,
                self.monitor,
                self.best,
                self.best_epoch,
                self.wait,
            )

    @override
    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    @override
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch}
        state["wait"] = self.wait
        if self.best_weights is not None:
            state["best_weights"] = self.best_weights
        return state

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self.best_weights = state.get("best_weights")


def _check_monitor(monitor: str) -> None:
    names = list(EpochRecord.__dataclass_fields__)
    if monitor not in names:
        raise ValueError(f"unknown figure {monitor!r}; monitor one of {names}")


def _cpu_copy(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


@final
class ModelCheckpoint(Callback):
    """Save a full checkpoint (see :meth:`~seqlearn.train.Trainer.save_checkpoint`).

    Every save is atomic: a crash or a kill leaves the previous file intact. In
    multi-process training only rank 0 writes.

    Args:
        path: File to write; ``{epoch}`` in it is replaced by the epoch number.
        every_n_epochs: Save after every ``n``-th epoch.
        monitor: With ``save_best_only``, the figure that decides what is best.
        mode: ``"min"`` or ``"max"``; by default ``"max"`` for accuracies, else ``"min"``.
        save_best_only: Save only when ``monitor`` improves.

    Raises:
        ValueError: If ``every_n_epochs`` is below 1.

    Example:
        >>> ModelCheckpoint("runs/last.pt").path
        PosixPath('runs/last.pt')
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        every_n_epochs: int = 1,
        monitor: str = "valid_loss",
        mode: Literal["min", "max"] | None = None,
        save_best_only: bool = False,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs!r}")
        self.path = Path(path)
        self.every_n_epochs = every_n_epochs
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        _check_monitor(monitor)
        self.save_best_only = save_best_only
        self.best = math.inf if self.mode == "min" else -math.inf

    @override
    def on_epoch_finished(self, trainer: TrainerView, record: EpochRecord) -> None:
        if record.epoch % self.every_n_epochs:
            return
        if self.save_best_only:
            value = record.value(self.monitor)
            if value is None or math.isnan(value):
                raise ValueError(
                    f"ModelCheckpoint monitors {self.monitor!r}, which was not measured"
                )
            if not _improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        trainer.save_checkpoint(str(self.path).replace("{epoch}", str(record.epoch)))

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = float(state["best"])


@final
class LearningRateScheduler(Callback):
    """Step a :mod:`torch.optim.lr_scheduler` scheduler after every step or every epoch.

    Its state travels in checkpoints, so a resumed run continues the schedule.

    Args:
        scheduler: A scheduler of the trainer's optimiser.
        interval: ``"step"`` (after each optimiser step, as
            :class:`~torch.optim.lr_scheduler.OneCycleLR` expects) or ``"epoch"``.
        monitor: The figure a :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau` watches
            (it steps once an epoch with that figure).

    Raises:
        ValueError: If ``interval`` or ``monitor`` is unknown, or a ``ReduceLROnPlateau``
            is asked to step per optimiser step.

    Example:
        >>> import torch
        >>> optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        >>> LearningRateScheduler(decay, "epoch").interval
        'epoch'
    """

    def __init__(
        self,
        scheduler: LRScheduler | ReduceLROnPlateau,
        interval: Literal["step", "epoch"] = "step",
        *,
        monitor: str = "valid_loss",
    ) -> None:
        if interval not in ("step", "epoch"):
            raise ValueError(f"interval must be 'step' or 'epoch', got {interval!r}")
        if isinstance(scheduler, ReduceLROnPlateau) and interval != "epoch":
            raise ValueError("ReduceLROnPlateau steps once an epoch: pass interval='epoch'")
        _check_monitor(monitor)
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor

    @override
    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        if self.interval == "step" and isinstance(self.scheduler, LRScheduler):
            self.scheduler.step()

    @override
    def on_epoch_end(self, trainer: TrainerView, record: EpochRecord) -> None:
        if isinstance(self.scheduler, ReduceLROnPlateau):
            value = record.value(self.monitor)
            if value is None:
                raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r}, not measured")
            self.scheduler.step(value)
        elif self.interval == "epoch":
            self.scheduler.step()

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": copy.deepcopy(self.scheduler.state_dict())}

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scheduler.load_state_dict(state["scheduler"])


@final
class TimeLimit(Callback):
    """End the fit once it has run for ``seconds`` (wall clock, validation included).

    The limit is checked after every optimiser step; when it is reached the fit ends
    there, in the middle of an epoch if need be (that epoch gets no record, as with
    :class:`~seqlearn.train.CancelFit`). Comparing two models at equal training time, or
    fitting a job into a slot, are its uses; call :meth:`~seqlearn.train.Trainer.validate`
    afterwards for the final figures. Under :mod:`torch.distributed` every process stops at
    the same step: the first process past the limit stops them all. A resumed fit counts
    from its own start.

    Args:
        seconds: The time budget, ``> 0``.

    Raises:
        ValueError: If ``seconds`` is not a positive number.

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batches = [collate_next_token([([1, 2, 3], 0)], eos_id=58)] * 3
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
        ...                   next_token_loss, callbacks=[TimeLimit(1e-9)], progress=False)
        >>> history = trainer.fit(batches, epochs=5)
        >>> trainer.step, len(history.records)  # stopped after the first step
        (1, 0)
    """

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"seconds must be a positive number, got {seconds!r}")
        self.seconds = float(seconds)
        self._start = time.perf_counter()

    @override
    def on_fit_start(self, trainer: TrainerView) -> None:
        self._start = time.perf_counter()

    @override
    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        over = time.perf_counter() - self._start >= self.seconds
        if distributed.is_distributed():
            flag = torch.tensor([float(over)])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            over = bool(flag.item())
        if over:
            logger.info(
                "TimeLimit: stopping after %.1f s (limit %.1f s)", self.elapsed, self.seconds
            )
            raise CancelFit

    @property
    def elapsed(self) -> float:
        """Seconds since the fit started."""
        return time.perf_counter() - self._start
