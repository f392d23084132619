"""Training events: what a callback sees of the trainer, the hooks it overrides, and the
exceptions that cancel a step or the whole fit.

The trainer raises these events, in this order (see :class:`Callback` for each):

.. code-block:: text

   fit(...)
     on_fit_start
     each epoch:
       on_epoch_start(epoch)
       each batch:
         on_batch_start(batch)         the batch is on the trainer's device
         on_loss(loss)                 the objective's LossSum, before backward
         on_after_backward             the batch's gradients are added to the .grad fields
         when a step is due (every accumulate_grad_batches batches, and at the epoch's end):
           on_before_step(grad_norm)   gradients final: scaled to the mean, checked, clipped
           (optimizer.step())
           on_step_end(step)
       (validation)
       on_epoch_end(record)
       on_epoch_finished(record)
     on_fit_end(history)

Every event runs its callbacks in the order of their
:attr:`~seqlearn.train.Callback.order`, lowest first, and callbacks of equal order in the
order the trainer was given them. The trainer's own
:class:`~seqlearn.train.DivergenceGuard` (order -20) and
:class:`~seqlearn.train.GradientClipping` (order -10) run before callbacks of the default
order 0, so those see checked, clipped gradients.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from seqlearn.train.history import EpochRecord, History
from seqlearn.train.objectives import LossSum

__all__ = ["Callback", "CancelFit", "CancelStep", "TrainerView"]


class TrainerView(Protocol):
    """What callbacks may use of the trainer: the :class:`~seqlearn.train.Trainer` has it all.

    Callbacks read the model, the optimiser, the counters and the history, set ``step`` (to
    restore it) and ``stop_training`` (to end the fit after the current epoch), and save
    checkpoints.

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> view: TrainerView = Trainer(model, sgd, next_token_loss)
        >>> view.epoch, view.step, view.stop_training, view.callbacks
        (0, 0, False, [])
    """

    step: int
    """Optimiser steps taken since training began."""
    stop_training: bool
    """Set it to end :meth:`~seqlearn.train.Trainer.fit` after the current epoch."""

    @property
    def model(self) -> nn.Module:
        """The model being trained."""
        ...

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimiser."""
        ...

    @property
    def device(self) -> torch.device | None:
        """Where the model and batches are, or ``None`` if the trainer moves nothing."""
        ...

    @property
    def epoch(self) -> int:
        """Epochs completed (the one running is ``epoch + 1``)."""
        ...

    @property
    def history(self) -> History:
        """The records of the completed epochs."""
        ...

    @property
    def callbacks(self) -> Sequence[Callback]:
        """The callbacks the trainer was given, whose states checkpoints carry."""
        ...

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write the trainer's whole state to ``path`` atomically; returns the path."""
        ...


class CancelStep(Exception):  # noqa: N818
    """Raise it from a batch event to cancel the optimiser step the batch belongs to.

    From :meth:`~Callback.on_batch_start`, :meth:`~Callback.on_loss`,
    :meth:`~Callback.on_after_backward` or :meth:`~Callback.on_before_step`: the gradients
    accumulated for the step are dropped, the optimiser does not step, ``on_step_end`` does
    not run, later callbacks of that event are skipped, and the epoch's
    :class:`~seqlearn.train.EpochRecord` counts one more in ``skipped_steps``. With
    ``accumulate_grad_batches > 1`` the whole group of batches is dropped; the next batch
    starts a new group. A batch cancelled in its own events (the first three) does not count
    in the epoch's figures; the batches of a step cancelled in ``on_before_step`` do. Raised
    from any other event, it escapes the trainer as an error. In multi-process training
    every process must cancel the same steps.

    Example:
        Skip the steps whose gradients are too large:

        >>> class SkipLargeGradients(Callback):
        ...     def on_before_step(self, trainer, grad_norm):
        ...         if grad_norm > 100.0:
        ...             raise CancelStep(f"gradient norm {grad_norm:.3g}")
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batch = collate_next_token([([1, 2, 3], 0)], eos_id=58)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> trainer = Trainer(model, sgd, next_token_loss, callbacks=[SkipLargeGradients()],
        ...                   progress=False)
        >>> record = trainer.fit([batch, batch], epochs=1).records[0]
        >>> record.steps, record.skipped_steps  # small gradients: nothing skipped
        (2, 0)
    """


class CancelFit(Exception):  # noqa: N818
    """Raise it from any event but ``on_fit_end`` to end :meth:`~seqlearn.train.Trainer.fit`
    at once.

    The later callbacks of that event and every later event are skipped, except
    :meth:`~Callback.on_fit_end`, which runs; an unfinished epoch is not recorded (its steps
    stay taken) and ``trainer.stop_training`` is set. Raised during
    :meth:`~seqlearn.train.Trainer.train_epoch`, it ends that epoch, and ``train_epoch``
    returns the figures so far. In multi-process training every process must raise it at
    the same point.

    Example:
        Stop after a fixed number of optimiser steps, in the middle of an epoch:

        >>> class StopAfterSteps(Callback):
        ...     def __init__(self, steps: int) -> None:
        ...         self.steps = steps
        ...     def on_step_end(self, trainer, step):
        ...         if step == self.steps:
        ...             raise CancelFit
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batch = collate_next_token([([1, 2, 3], 0)], eos_id=58)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> trainer = Trainer(model, sgd, next_token_loss, callbacks=[StopAfterSteps(3)],
        ...                   progress=False)
        >>> history = trainer.fit([batch] * 5, epochs=2)
        >>> trainer.step, trainer.epoch, len(history.records), trainer.stop_training
        (3, 0, 0, True)
    """


class Callback:
    """Base class of callbacks: every hook does nothing until a subclass overrides it.

    Hooks receive the trainer as a :class:`TrainerView`, so a callback can read
    ``trainer.model``, ``trainer.optimizer``, ``trainer.epoch``, ``trainer.step`` and
    ``trainer.history``, and stop training after the current epoch by setting
    ``trainer.stop_training = True``. Batch events may raise :class:`CancelStep` to cancel
    an optimiser step, and any event but ``on_fit_end`` may raise :class:`CancelFit` to end
    the fit at once.

    Example:
        A callback that counts optimiser steps and keeps the count in checkpoints:

        >>> class CountSteps(Callback):
        ...     def __init__(self) -> None:
        ...         self.steps = 0
        ...     def on_step_end(self, trainer, step):
        ...         self.steps += 1
        ...     def on_epoch_end(self, trainer, record):
        ...         print(f"epoch {record.epoch}: {self.steps} steps so far")
        ...     def state_dict(self):
        ...         return {"steps": self.steps}
        ...     def load_state_dict(self, state):
        ...         self.steps = state["steps"]
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batches = [collate_next_token([([1, 2, 3], 0)], eos_id=58)] * 2  # 2 steps an epoch
        >>> counter = CountSteps()
        >>> trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss,
        ...                   callbacks=[counter], progress=False)
        >>> _ = trainer.fit(batches, epochs=2)
        epoch 1: 2 steps so far
        epoch 2: 4 steps so far
        >>> trainer.state_dict()["callbacks"]
        [{'steps': 4}]
    """

    order: int = 0
    """When this callback runs among the others at each event: lower runs first, and
    callbacks of equal order run in the order the trainer was given them. The default is 0;
    the trainer's :class:`~seqlearn.train.DivergenceGuard` runs at -20 and its
    :class:`~seqlearn.train.GradientClipping` at -10. Set it on the class (``order = 5``)
    or on an instance; the trainer reads it when :meth:`~seqlearn.train.Trainer.fit` or
    :meth:`~seqlearn.train.Trainer.train_epoch` starts."""

    def on_fit_start(self, trainer: TrainerView) -> None:
        """Called once when :meth:`~seqlearn.train.Trainer.fit` starts (after any resume)."""

    def on_epoch_start(self, trainer: TrainerView, epoch: int) -> None:
        """Called before the first batch of epoch ``epoch`` (1-based)."""

    def on_batch_start(self, trainer: TrainerView, batch: Any) -> None:
        """Called before the forward pass of each training batch.

        Args:
            trainer: The trainer.
            batch: The batch, already on the trainer's device.
        """

    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        """Called after the objective, before the backward pass, with the batch's loss.

        Reading the loss's value (``float(loss.total)``) waits for the device: a host
        synchronisation per batch.

        Args:
            trainer: The trainer.
            loss: The batch's summed loss and item count; ``loss.total`` is still attached
                to the graph.
        """

    def on_after_backward(self, trainer: TrainerView) -> None:
        """Called after each training batch's backward pass.

        The ``.grad`` fields hold the gradients of the summed losses of the step's batches
        so far, not yet divided by their item count (that happens before
        :meth:`on_before_step`).
        """

    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        """Called before each optimiser step, with the gradients final (scaled, clipped).

        Args:
            trainer: The trainer; ``trainer.model``'s ``.grad`` fields hold the gradients.
            grad_norm: Their global 2-norm before norm clipping.
        """

    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        """Called after every optimiser step; ``step`` counts steps since training began."""

    def on_epoch_end(self, trainer: TrainerView, record: EpochRecord) -> None:
        """Called after each epoch's training and validation, with its figures."""

    def on_epoch_finished(self, trainer: TrainerView, record: EpochRecord) -> None:
        """Called after every callback's :meth:`on_epoch_end`: the epoch's state is final.

        The place to save or export the trainer's state (as
        :class:`~seqlearn.train.ModelCheckpoint` does).
        """

    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        """Called once when :meth:`~seqlearn.train.Trainer.fit` ends."""

    def state_dict(self) -> dict[str, Any]:
        """State to keep in checkpoints (tensors, numbers, strings and containers of them)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Args:
            state: The saved state.
        """
