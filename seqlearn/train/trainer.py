"""The training loop: fit and evaluate any model with any optimiser."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Generic, Literal, Protocol, TypeVar

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm
from typing_extensions import Self, final

from seqlearn.train.history import EpochRecord, History
from seqlearn.train.objectives import LossSum, Objective

__all__ = ["DivergenceError", "Movable", "Trainer"]

logger = logging.getLogger(__name__)


class Movable(Protocol):
    """A batch that can move itself to a device, like the batches of :mod:`seqlearn.data`."""

    def to(self, device: torch.device) -> Self:
        """Return the batch on ``device``."""
        ...


ModelT = TypeVar("ModelT", bound=nn.Module)
BatchT = TypeVar("BatchT", bound=Movable)


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


@final
class Trainer(Generic[ModelT, BatchT]):
    """Fits a model to batches by minimising an objective, one epoch at a time.

    The loop is deliberately plain: for each batch, compute the objective's summed loss,
    step the optimiser on its mean, and keep exact per-epoch averages. Validation runs
    under :func:`torch.inference_mode` with the model in eval mode.

    Randomness inside :meth:`fit` (dropout, and data loaders or samplers that draw from
    PyTorch's default generator) comes from ``seed``: the default generator is forked,
    seeded, and restored afterwards, so a seeded fit is repeatable and leaves the caller's
    random state untouched.

    Args:
        model: The model to train.
        optimizer: Any :class:`torch.optim.Optimizer` over the model's parameters (the
            lecture uses plain SGD).
        objective: ``(model, batch) -> LossSum``, e.g.
            :func:`~seqlearn.train.next_token_loss`.
        clip_grad_norm: Clip the gradients' global norm to this value; ``None`` to not clip.
        lr_scheduler: A :class:`torch.optim.lr_scheduler.LRScheduler` of ``optimizer``,
            stepped after every optimiser step (``scheduler_interval="step"``, as
            :class:`~torch.optim.lr_scheduler.OneCycleLR` expects) or after every epoch.
        scheduler_interval: When to step ``lr_scheduler``: ``"step"`` or ``"epoch"``.
        progress: Show a tqdm progress bar per epoch.
        seed: Seed for the randomness inside :meth:`fit`; ``None`` leaves it unseeded.
        device: Move each batch here first (the model must already be there); ``None``
            leaves batches where they are.

    Raises:
        ValueError: If ``clip_grad_norm`` is not positive.

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data.batching import collate_next_token
        >>> from seqlearn.train import next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batches = [collate_next_token([([1, 2, 3], 0), ([4, 5], 1)], eos_id=58)]
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1),
        ...                   next_token_loss, progress=False, seed=0)
        >>> history = trainer.fit(batches, epochs=2, valid_batches=batches)
        >>> len(history.records), history.train_loss[1] < history.train_loss[0]
        (2, True)
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: torch.optim.Optimizer,
        objective: Objective[ModelT, BatchT],
        *,
        clip_grad_norm: float | None = None,
        lr_scheduler: LRScheduler | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        progress: bool = True,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"clip_grad_norm must be positive, got {clip_grad_norm!r}")
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(
                f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}"
            )
        self.clip_grad_norm = clip_grad_norm
        self.lr_scheduler = lr_scheduler
        self.scheduler_interval = scheduler_interval
        self.progress = progress
        self.seed = seed
        self.device = None if device is None else torch.device(device)
        self.epoch = 0

    def fit(
        self,
        train_batches: Iterable[BatchT],
        *,
        epochs: int,
        valid_batches: Iterable[BatchT] | None = None,
    ) -> History:
        """Train for ``epochs`` more epochs, validating after each when batches are given.

        Args:
            train_batches: Re-iterable training batches (a list or a DataLoader).
            epochs: Number of epochs to run.
            valid_batches: Re-iterable validation batches, or ``None``.

        Returns:
            The history of these epochs.

        Raises:
            ValueError: If ``epochs`` is below 1.
            DivergenceError: If a training loss is not finite.
        """
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs!r}")
        history = History()
        with self._seeded():
            for _ in range(epochs):
                self.epoch += 1
                train_loss, seconds = self.train_epoch(train_batches)
                valid_loss = None if valid_batches is None else self.evaluate(valid_batches)
                record = EpochRecord(
                    self.epoch, train_loss, valid_loss, seconds, self._learning_rate()
                )
                history.append(record)
                logger.info(
                    "epoch %d: train loss %.4f, valid loss %s, %.2f s",
                    record.epoch,
                    train_loss,
                    "n/a" if valid_loss is None else f"{valid_loss:.4f}",
                    seconds,
                )
        return history

    def train_epoch(self, batches: Iterable[BatchT]) -> tuple[float, float]:
        """Run one epoch of optimisation steps.

        Args:
            batches: The training batches.

        Returns:
            The epoch's mean loss per counted item and its wall-clock seconds.

        Raises:
            DivergenceError: If a loss is not finite.
        """
        self.model.train()
        total, count = 0.0, 0
        start = time.perf_counter()
        bar = self._bar(batches, f"epoch {self.epoch}")
        for step, batch in enumerate(bar, start=1):
            loss = self.objective(self.model, self._move(batch))
            self._step(loss, step)
            total += float(loss.total.detach())
            count += loss.num_items
            if self.progress and count:
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        if self.lr_scheduler is not None and self.scheduler_interval == "epoch":
            self.lr_scheduler.step()
        seconds = time.perf_counter() - start
        return (total / count if count else math.nan), seconds

    def evaluate(self, batches: Iterable[BatchT]) -> float:
        """Mean loss per counted item over ``batches``, without changing the model.

        Args:
            batches: The batches to score.

        Returns:
            The mean loss (``nan`` if the batches count no items).
        """
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        try:
            with torch.inference_mode():
                for batch in batches:
                    loss = self.objective(self.model, self._move(batch))
                    total += float(loss.total)
                    count += loss.num_items
        finally:
            self.model.train(was_training)
        return total / count if count else math.nan

    def _step(self, loss: LossSum, step: int) -> None:
        if loss.num_items == 0:
            return
        mean = loss.total / loss.num_items
        if not torch.isfinite(mean):
            raise DivergenceError(
                f"non-finite training loss {float(mean.detach())} at epoch {self.epoch}, "
                f"step {step}, learning rate {self._learning_rate():g}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        mean.backward()  # type: ignore[no-untyped-call]
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        if self.lr_scheduler is not None and self.scheduler_interval == "step":
            self.lr_scheduler.step()

    def _move(self, batch: BatchT) -> BatchT:
        return batch if self.device is None else batch.to(self.device)

    def _learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _bar(self, batches: Iterable[BatchT], description: str) -> tqdm[BatchT]:
        total = len(batches) if isinstance(batches, Sized) else None
        return tqdm(batches, desc=description, total=total, disable=not self.progress, leave=False)

    @contextmanager
    def _seeded(self) -> Iterator[None]:
        if self.seed is None:
            yield
            return
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            yield
