"""The training loop: fit and evaluate any model with any optimiser."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar, cast

import torch
from torch import nn
from tqdm.auto import tqdm
from typing_extensions import Self, final

from seqlearn._checks import check_int
from seqlearn.train import distributed
from seqlearn.train.checkpoint import (
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
    save_checkpoint,
)
from seqlearn.train.clipping import GradientClipping
from seqlearn.train.devices import resolve_device
from seqlearn.train.divergence import DivergenceError, DivergenceGuard, DivergencePolicy
from seqlearn.train.events import Callback, CancelFit, CancelStep
from seqlearn.train.history import EpochRecord, History
from seqlearn.train.objectives import LossSum, Objective

__all__ = ["DivergenceError", "DivergencePolicy", "Metrics", "Movable", "Trainer"]

logger = logging.getLogger(__name__)


class Movable(Protocol):
    """A batch that can move itself to a device, like the batches of :mod:`seqlearn.data`.

    Example:
        A batch of your own only needs a ``to`` method to follow the trainer's device:

        >>> import torch
        >>> from typing import NamedTuple
        >>> class PairBatch(NamedTuple):
        ...     x: torch.Tensor
        ...     y: torch.Tensor
        ...     def to(self, device: torch.device) -> PairBatch:
        ...         return PairBatch(self.x.to(device), self.y.to(device))
        >>> batch: Movable = PairBatch(torch.zeros(2, 3), torch.ones(2))
        >>> batch.to(torch.device("cpu")).x.device
        device(type='cpu')
    """

    def to(self, device: torch.device) -> Self:
        """Return the batch on ``device``."""
        ...


ModelT = TypeVar("ModelT", bound=nn.Module)
BatchT = TypeVar("BatchT", bound=Movable)


class Metrics(NamedTuple):
    """Mean figures over some batches.

    Attributes:
        loss: Mean loss per counted item (``nan`` if there were none).
        accuracy: Share of items labelled right, for classifiers; else ``None``.
        num_items: Items counted (over all processes in multi-process training).

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.train import next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> metrics = Trainer(model, sgd, next_token_loss).validate(batches)
        >>> metrics.accuracy, metrics.num_items  # a language model: no labels to count
        (None, 4)
    """

    loss: float
    accuracy: float | None
    num_items: int


class _Tally:
    """Running sums of loss, items and correct labels, reducible across processes.

    The loss total stays on the device (in float64, which adds exactly as Python's floats
    do), so adding a batch does not wait for the device; it is read once, in
    :meth:`metrics`, or when a progress bar shows it.
    """

    def __init__(self) -> None:
        self.total: float | torch.Tensor = 0.0
        self.items, self.correct, self.any_correct = 0, 0, False

    def add(self, loss: LossSum) -> None:
        self.total = self.total + loss.total.detach().double()
        self.items += loss.num_items
        if loss.num_correct is not None:
            self.correct += loss.num_correct
            self.any_correct = True

    def mean(self) -> float:
        """The mean loss so far, read from the device (not reduced across processes)."""
        return float(self.total) / self.items if self.items else math.nan

    def metrics(self, device: torch.device | None) -> Metrics:
        total, items, correct = distributed.all_reduce_sums(
            [float(self.total), self.items, self.correct], device
        )
        if not items:
            return Metrics(math.nan, None, 0)
        accuracy = correct / items if self.any_correct else None
        return Metrics(total / items, accuracy, int(items))


class _EpochRun(NamedTuple):
    """What a training epoch gives the trainer."""

    metrics: Metrics
    seconds: float
    skipped_steps: int
    cancelled: bool  # by CancelFit


@final
class Trainer(Generic[ModelT, BatchT]):
    """Fits a model to batches by minimising an objective, one epoch at a time.

    The loop is plain on purpose: for each batch, the objective gives a summed loss and an
    item count; gradients of the sum are accumulated over ``accumulate_grad_batches``
    batches and divided by the item count, so each optimiser step follows the exact mean
    over those batches; then gradients are checked, clipped and applied. Validation runs
    under :func:`torch.inference_mode` in eval mode. Callbacks (early stopping, checkpoints,
    learning-rate schedules, your own) hook into ordered events around every phase: fit,
    epoch, batch, loss, backward and step (see :mod:`seqlearn.train.events`). Checking
    and clipping are callbacks too, which the trainer installs from its arguments: a
    :class:`~seqlearn.train.DivergenceGuard` from ``on_divergence`` and, with a clipping
    value, a :class:`~seqlearn.train.GradientClipping`; they keep no state, so checkpoints
    hold the states of ``callbacks`` only.

    Randomness: with ``seed``, the default generator is seeded from ``(seed, epoch)`` at the
    start of each epoch inside a fork of PyTorch's random state, so dropout and samplers
    that draw from the default generator repeat exactly, a run resumed from a checkpoint
    continues exactly as an uninterrupted one, and the caller's random state is untouched.
    Without ``seed``, checkpoints carry every random state instead.

    Multi-process: when a :mod:`torch.distributed` process group is running, the model is
    wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`, gradients follow the mean
    over the items of all processes, figures are summed over processes, and only rank 0
    logs, shows progress and writes checkpoints (see :mod:`seqlearn.train.distributed`).

    Args:
        model: The model to train.
        optimizer: Any :class:`torch.optim.Optimizer` over the model's parameters (the
            lecture uses plain SGD).
        objective: ``(model, batch) -> LossSum``, e.g. :data:`~seqlearn.train.next_token_loss`
            or :func:`~seqlearn.train.classification_loss`.
        callbacks: Hooks called at every event, sorted by their
            :attr:`~seqlearn.train.Callback.order` (stably: in the order given for equal
            orders), e.g. :class:`~seqlearn.train.EarlyStopping`.
        clip_grad_norm: Clip the gradients' global norm to this value.
        clip_grad_value: Clip each gradient element to ``[-value, value]`` (before the norm).
        accumulate_grad_batches: Batches whose gradients make one optimiser step.
        on_divergence: What a non-finite loss or gradient does, see :data:`DivergencePolicy`.
        mixed_precision: Run forward passes in bfloat16 autocast (CUDA only).
        progress: Show a tqdm progress bar per epoch.
        seed: Seed for the randomness inside :meth:`fit`; ``None`` leaves it unseeded.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a :class:`torch.device`: the
            model moves there and each batch follows; ``None`` moves nothing.

    Raises:
        ValueError: If a clipping value or ``accumulate_grad_batches`` is not positive, the
            policy is unknown, or mixed precision is asked for off CUDA.
        TypeError: If ``model`` is not a :class:`torch.nn.Module`, ``optimizer`` not a
            :class:`torch.optim.Optimizer`, ``objective`` not callable, a callback not a
            :class:`~seqlearn.train.Callback`, a clipping value not a real number, or
            ``accumulate_grad_batches`` or ``seed`` not an int.

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
        >>> trainer.on_divergence, trainer.diverged, trainer.clip_grad_norm, trainer.clip_grad_value
        ('stop', False, None, None)
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: torch.optim.Optimizer,
        objective: Objective[ModelT, BatchT],
        *,
        callbacks: Sequence[Callback] = (),
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        accumulate_grad_batches: int = 1,
        on_divergence: DivergencePolicy = "stop",
        mixed_precision: bool = False,
        progress: bool = True,
        seed: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        callbacks = _check_parts(model, optimizer, objective, callbacks)
        clipping = (
            None
            if clip_grad_norm is None and clip_grad_value is None
            else GradientClipping(clip_grad_norm=clip_grad_norm, clip_grad_value=clip_grad_value)
        )
        if check_int("accumulate_grad_batches", accumulate_grad_batches) < 1:
            raise ValueError(
                f"accumulate_grad_batches must be at least 1, got {accumulate_grad_batches!r}"
            )
        if seed is not None:
            check_int("seed", seed)
        self._guard = DivergenceGuard(on_divergence)
        self.device = None if device is None else resolve_device(device)
        if mixed_precision and (self.device is None or self.device.type != "cuda"):
            raise ValueError(f"mixed_precision needs a CUDA device, got device={device!r}")
        if self.device is not None:
            model.to(self.device)
        self.model = model
        self._trained_parameters = list(model.parameters())
        self.optimizer = optimizer
        self.objective = objective
        self.callbacks = list(callbacks)
        self._clipping = clipping
        self.accumulate_grad_batches = accumulate_grad_batches
        self.mixed_precision = mixed_precision
        self.progress = progress
        self.seed = seed
        self.epoch = 0
        self.step = 0
        self.history = History()
        self.stop_training = False
        self._train_model: nn.Module = model
        self._running: tuple[Callback, ...] = ()

    @property
    def clip_grad_norm(self) -> float | None:
        """The largest global gradient norm, or ``None`` (see
        :class:`~seqlearn.train.GradientClipping`)."""
        return None if self._clipping is None else self._clipping.clip_grad_norm

    @property
    def clip_grad_value(self) -> float | None:
        """The largest absolute gradient element, or ``None``."""
        return None if self._clipping is None else self._clipping.clip_grad_value

    @property
    def on_divergence(self) -> DivergencePolicy:
        """What a non-finite loss or gradient does (see :data:`DivergencePolicy`)."""
        return self._guard.on_divergence

    @property
    def diverged(self) -> bool:
        """Whether ``on_divergence="restore"`` ended the last fit."""
        return self._guard.diverged

    # ----------------------------------------------------------------------- fitting

    def fit(
        self,
        train_batches: Iterable[BatchT],
        *,
        epochs: int,
        valid_batches: Iterable[BatchT] | None = None,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> History:
        """Train until ``epochs`` epochs have run in all (Keras' meaning of ``epochs``).

        Args:
            train_batches: Re-iterable training batches (a list or a DataLoader).
            epochs: The epoch to train up to, counting those of earlier fits and of a
                resumed checkpoint.
            valid_batches: Re-iterable validation batches, or ``None``.
            resume_from: A checkpoint from :meth:`save_checkpoint` to continue from.

        Returns:
            The history of all epochs so far (also ``trainer.history``).

        Raises:
            ValueError: If ``epochs`` is below 1, or as :meth:`load_checkpoint`.
            TypeError: If ``epochs`` is not an int.
            DivergenceError: If the loss or a gradient is not finite and
                ``on_divergence="stop"``.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> len(trainer.fit(batches, epochs=2).records)
            2
            >>> len(trainer.fit(batches, epochs=3).records), trainer.epoch  # one more epoch
            (3, 3)
        """
        if check_int("epochs", epochs) < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs!r}")
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        self.stop_training = False
        self._train_model = self._wrapped_for_processes()
        self._running = self._sorted_callbacks()
        try:
            self._emit(lambda callback: callback.on_fit_start(self))
            while self.epoch < epochs and not self.stop_training:
                self._run_epoch(train_batches, valid_batches)
        except CancelFit:
            self.stop_training = True
        finally:
            # Drop the DistributedDataParallel wrapper (a later fit wraps afresh): freed
            # after the process group is destroyed, it can hang a process at exit.
            self._train_model = self.model
        self._emit(lambda callback: callback.on_fit_end(self, self.history))
        return self.history

    def _sorted_callbacks(self) -> tuple[Callback, ...]:
        """The trainer's own callbacks and the user's, sorted (stably) by their order."""
        own: list[Callback] = [self._guard]
        if self._clipping is not None:
            own.append(self._clipping)
        return tuple(sorted([*own, *self.callbacks], key=lambda callback: callback.order))

    def _emit(self, event: Callable[[Callback], None]) -> None:
        """Raise an event: call it on each callback in turn (an exception skips the rest)."""
        for callback in self._running:
            event(callback)

    def _run_epoch(
        self, train_batches: Iterable[BatchT], valid_batches: Iterable[BatchT] | None
    ) -> None:
        with self._epoch_random_state(self.epoch + 1):
            record = self._record_epoch(train_batches, valid_batches)
        self._emit(lambda callback: callback.on_epoch_end(self, record))
        self._emit(lambda callback: callback.on_epoch_finished(self, record))  # state final

    def _record_epoch(
        self, train_batches: Iterable[BatchT], valid_batches: Iterable[BatchT] | None
    ) -> EpochRecord:
        """Train and validate an epoch, and append its record to the history."""
        epoch = self.epoch + 1
        self._emit(lambda callback: callback.on_epoch_start(self, epoch))
        train = self._train_epoch(train_batches, epoch)
        if train.cancelled:
            raise CancelFit
        valid = None if valid_batches is None else self.validate(valid_batches)
        self.epoch = epoch
        record = EpochRecord(
            epoch=epoch,
            train_loss=train.metrics.loss,
            valid_loss=None if valid is None else valid.loss,
            seconds=train.seconds,
            learning_rate=float(self.optimizer.param_groups[0]["lr"]),
            train_accuracy=train.metrics.accuracy,
            valid_accuracy=None if valid is None else valid.accuracy,
            steps=self.step,
            skipped_steps=train.skipped_steps,
        )
        self.history.append(record)
        if distributed.is_main_process():
            logger.info("%s", _describe(record))
        return record

    def train_epoch(self, batches: Iterable[BatchT]) -> Metrics:
        """Run one epoch of optimisation steps (outside :meth:`fit`: only the batch and
        step events run, and no record is kept).

        Args:
            batches: The training batches.

        Returns:
            The epoch's figures, measured while the weights changed.

        Raises:
            DivergenceError: If the loss or a gradient is not finite and
                ``on_divergence="stop"``.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> trainer.train_epoch(batches).num_items, trainer.step, trainer.epoch
            (4, 1, 0)
        """
        self._running = self._sorted_callbacks()
        return self._train_epoch(batches, self.epoch + 1).metrics

    def _train_epoch(self, batches: Iterable[BatchT], epoch: int) -> _EpochRun:
        self.model.train()
        self._trained_parameters = list(self.model.parameters())  # once an epoch, not each step
        tally, pending, pending_items, skipped, cancelled = _Tally(), 0, 0, 0, False
        start = time.perf_counter()
        bar = self._bar(batches, f"epoch {epoch}")
        try:
            for batch in bar:
                items = self._train_batch(batch, tally)
                if items is None:  # its step was cancelled
                    self.optimizer.zero_grad(set_to_none=True)
                    pending, pending_items, skipped = 0, 0, skipped + 1
                    continue
                pending, pending_items = pending + 1, pending_items + items
                if pending == self.accumulate_grad_batches:
                    skipped += self._optimizer_step(pending_items)
                    pending, pending_items = 0, 0
                if not bar.disable and tally.items:
                    bar.set_postfix(loss=f"{tally.mean():.4f}", refresh=False)
            if pending:
                skipped += self._optimizer_step(pending_items)
        except CancelFit:
            cancelled = True
        self.optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - start
        return _EpochRun(tally.metrics(self.device), seconds, skipped, cancelled)

    def _train_batch(self, batch: BatchT, tally: _Tally) -> int | None:
        """Forward and backward passes of one batch: its item count, or ``None`` if a
        callback cancelled its step."""
        batch = self._move(batch)
        try:
            self._emit(lambda callback: callback.on_batch_start(self, batch))
            loss = self._loss(self._train_model, batch)
            self._emit(lambda callback: callback.on_loss(self, loss))
            loss.total.backward()  # type: ignore[no-untyped-call]
            self._emit(lambda callback: callback.on_after_backward(self))
        except CancelStep:
            return None
        tally.add(loss)
        return loss.num_items

    def _loss(self, model: nn.Module, batch: BatchT) -> LossSum:
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if self.mixed_precision else nullcontext()
        )
        with autocast:
            return self.objective(cast(ModelT, model), batch)

    def _optimizer_step(self, items: int) -> int:
        """Scale the accumulated gradients to the mean over their items and apply them
        (callbacks check and clip them first); returns 1 if a callback cancelled the step."""
        items_everywhere = distributed.all_reduce_sums([float(items)], self.device)[0]
        if items_everywhere == 0:
            self.optimizer.zero_grad(set_to_none=True)
            return 0
        # DDP averages gradients over processes; undo that so they follow the global mean.
        scale = distributed.world_size() / items_everywhere
        parameters = [p for p in self._trained_parameters if p.grad is not None]
        for parameter in parameters:
            cast(torch.Tensor, parameter.grad).mul_(scale)
        # The one read of the gradients on the host: the guard checks it, hooks receive it.
        norm = _largest_gradient(parameters) if parameters else 0.0
        try:
            self._emit(lambda callback: callback.on_before_step(self, norm))
        except CancelStep:
            self.optimizer.zero_grad(set_to_none=True)
            return 1
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._emit(lambda callback: callback.on_step_end(self, self.step))
        return 0

    # -------------------------------------------------------------------- evaluation

    def validate(self, batches: Iterable[BatchT]) -> Metrics:
        """Mean figures over ``batches`` without changing the model (summed over processes).

        Args:
            batches: The batches to score.

        Returns:
            Loss, accuracy (classifiers) and item count.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> before = trainer.validate(batches)
            >>> before.num_items, trainer.validate(batches) == before  # the model is unchanged
            (4, True)
        """
        was_training = self.model.training
        self.model.eval()
        tally = _Tally()
        try:
            with torch.inference_mode():
                for batch in batches:
                    tally.add(self._loss(self.model, self._move(batch)))
        finally:
            self.model.train(was_training)
        return tally.metrics(self.device)

    def evaluate(self, batches: Iterable[BatchT]) -> float:
        """Mean loss per counted item over ``batches``, without changing the model.

        Args:
            batches: The batches to score.

        Returns:
            The mean loss (``nan`` if the batches count no items).

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> before = trainer.evaluate(batches)
            >>> _ = trainer.fit(batches, epochs=5)
            >>> trainer.evaluate(batches) < before
            True
        """
        return self.validate(batches).loss

    # ------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: model, optimiser, epoch, step, history, callbacks'
        states (a learning-rate schedule among them), the objective's state (``None``
        unless it has a ``state_dict``, as :class:`~seqlearn.train.CarriedStateLoss` has
        for its carried recurrent states) and every random state.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> sorted(trainer.state_dict())
            ['callbacks', 'epoch', 'history', 'model', 'objective', 'optimizer', 'rng', 'step']
        """
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history.to_dict(),
            "callbacks": [callback.state_dict() for callback in self.callbacks],
            "objective": _objective_state(self.objective),
            "rng": capture_rng_states(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Args:
            state: A trainer state.

        Raises:
            ValueError: If the state lacks one of the keys :meth:`state_dict` writes (a
                checkpoint of something else than a trainer), holds another number of
                callback states than this trainer has callbacks, or a state is invalid.
            RuntimeError: From :meth:`torch.nn.Module.load_state_dict` if the model's
                state does not fit the model.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> _ = trainer.fit(batches, epochs=2)
            >>> twin_model = lecture_generator(hidden_size=8)
            >>> twin = Trainer(twin_model, torch.optim.SGD(twin_model.parameters(), lr=0.1),
            ...                next_token_loss, progress=False, seed=0)
            >>> twin.load_state_dict(trainer.state_dict())
            >>> twin.epoch, twin.history == trainer.history
            (2, True)
        """
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(
                f"not a trainer state: missing the key(s) {missing}; expected the keys "
                f"{list(_STATE_KEYS)} that Trainer.state_dict() writes"
            )
        callback_states = state["callbacks"]
        if len(callback_states) != len(self.callbacks):
            raise ValueError(
                f"the checkpoint holds states of {len(callback_states)} callbacks, but this "
                f"trainer has {len(self.callbacks)}; pass the same callbacks to resume"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = History.from_dict(state["history"])
        for callback, callback_state in zip(self.callbacks, callback_states):
            callback.load_state_dict(callback_state)
        objective_state = state.get("objective")  # absent from checkpoints before 0.2
        if objective_state is not None:
            load = getattr(self.objective, "load_state_dict", None)
            if not callable(load):
                raise ValueError(
                    "the checkpoint holds an objective's state, but this trainer's objective "
                    "keeps none; pass the same objective to resume"
                )
            load(objective_state)
        restore_rng_states(state["rng"])

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`state_dict` atomically to ``path`` (rank 0 only when multi-process).

        A crash or a kill at any moment leaves the previous file at ``path`` intact.

        Args:
            path: The checkpoint file.

        Returns:
            The path.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     _ = trainer.fit(batches, epochs=1)
            ...     path = trainer.save_checkpoint(f"{root}/last.pt")
            ...     history = trainer.fit(batches, epochs=2, resume_from=path)  # on from epoch 1
            >>> [record.epoch for record in history.records]
            [1, 2]
        """
        target = Path(path)
        if distributed.is_main_process():
            save_checkpoint(target, self.state_dict())
        if distributed.is_distributed():
            torch.distributed.barrier()
        return target

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` into this trainer.

        Loading uses ``torch.load(..., weights_only=True)``: a checkpoint from a stranger
        cannot run code.

        Args:
            path: The checkpoint file.

        Raises:
            FileNotFoundError: If there is no file at ``path``.
            ValueError: If the file is truncated, corrupt or not a seqlearn checkpoint
                (see :func:`~seqlearn.train.load_checkpoint`), or not a trainer's
                checkpoint (see :meth:`load_state_dict`); the message names the file.
            RuntimeError: If the checkpoint's model state does not fit the model.

        Example:
            >>> import torch
            >>> from seqlearn.nn import lecture_generator
            >>> from seqlearn.data import collate_next_token
            >>> from seqlearn.train import next_token_loss
            >>> model = lecture_generator(hidden_size=8)
            >>> batches = [collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)]
            >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
            >>> trainer = Trainer(model, sgd, next_token_loss, progress=False, seed=0)
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     _ = trainer.fit(batches, epochs=2)
            ...     path = trainer.save_checkpoint(f"{root}/last.pt")
            ...     fresh_model = lecture_generator(hidden_size=8)
            ...     fresh = Trainer(fresh_model, torch.optim.SGD(fresh_model.parameters(), lr=0.1),
            ...                     next_token_loss, progress=False, seed=0)
            ...     fresh.load_checkpoint(path)
            >>> fresh.epoch, fresh.step, fresh.history == trainer.history
            (2, 2, True)
        """
        state = load_checkpoint(path, map_location=self.device or "cpu")
        try:
            self.load_state_dict(state)
        except ValueError as error:
            raise ValueError(f"{os.fspath(path)}: {error}") from error

    # ----------------------------------------------------------------------- helpers

    def _wrapped_for_processes(self) -> nn.Module:
        if not distributed.is_distributed():
            return self.model
        if isinstance(self._train_model, nn.parallel.DistributedDataParallel):
            return self._train_model
        device_ids = (
            [self.device] if self.device is not None and self.device.type == "cuda" else None
        )
        return nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    def _move(self, batch: BatchT) -> BatchT:
        return batch if self.device is None else batch.to(self.device)

    def _bar(self, batches: Iterable[BatchT], description: str) -> tqdm[BatchT]:
        total = len(batches) if isinstance(batches, Sized) else None
        show = self.progress and distributed.is_main_process()
        return tqdm(batches, desc=description, total=total, disable=not show, leave=False)

    @contextmanager
    def _epoch_random_state(self, epoch: int) -> Iterator[None]:
        if self.seed is None:
            yield
            return
        cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda_devices):  # manual_seed reseeds CUDA too
            torch.manual_seed(self.seed * 1_000_003 + epoch)
            yield


_STATE_KEYS = ("model", "optimizer", "epoch", "step", "history", "callbacks", "rng")


def _objective_state(objective: object) -> Any:
    """The objective's ``state_dict()`` if it keeps state (carried recurrent states),
    else ``None``."""
    save = getattr(objective, "state_dict", None)
    return save() if callable(save) else None


def _check_parts(
    model: object, optimizer: object, objective: object, callbacks: object
) -> list[Callback]:
    """The callbacks as a list, after checking that each part of a trainer is of its kind.

    Raises:
        TypeError: Naming the first part of the wrong kind.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        kind = type(optimizer).__name__
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {kind}")
    if not callable(objective):
        raise TypeError(
            f"objective must be a callable (model, batch) -> LossSum, got {objective!r}"
        )
    if not isinstance(callbacks, Iterable) or isinstance(callbacks, str):
        kind = type(callbacks).__name__
        raise TypeError(f"callbacks must be a sequence of Callback, got {kind}")
    checked = list(callbacks)
    for index, callback in enumerate(checked):
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks[{index}] must be a Callback, got {callback!r}")
    return checked


def _describe(record: EpochRecord) -> str:
    parts = [f"epoch {record.epoch}: train loss {record.train_loss:.4f}"]
    if record.train_accuracy is not None:
        parts.append(f"train accuracy {record.train_accuracy:.4f}")
    if record.valid_loss is not None:
        parts.append(f"valid loss {record.valid_loss:.4f}")
    if record.valid_accuracy is not None:
        parts.append(f"valid accuracy {record.valid_accuracy:.4f}")
    parts.append(f"{record.seconds:.2f} s")
    if record.skipped_steps:
        parts.append(f"{record.skipped_steps} steps skipped")
    return ", ".join(parts)


def _largest_gradient(parameters: list[nn.Parameter]) -> float:
    """The gradients' infinity norm (the largest magnitude), read once on the host; not
    finite if any gradient is not. ``clip_grad_norm_`` with an infinite bound gives the
    same number but then multiplies every gradient by one."""
    grads = [cast(torch.Tensor, parameter.grad) for parameter in parameters]
    total_norm = getattr(nn.utils, "get_total_norm", None)  # torch >= 2.6
    if total_norm is None:
        return float(nn.utils.clip_grad_norm_(parameters, math.inf))
    return float(total_norm(grads, math.inf))
