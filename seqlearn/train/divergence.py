"""Divergence: what a non-finite loss or gradient does, as a callback."""

from __future__ import annotations

import copy
import logging
import math
from typing import Any, Literal, NoReturn

import torch
from typing_extensions import final, override

from seqlearn.train import distributed
from seqlearn.train.events import Callback, CancelFit, CancelStep, TrainerView
from seqlearn.train.history import History
from seqlearn.train.objectives import LossSum

__all__ = ["DivergenceError", "DivergenceGuard", "DivergencePolicy"]

logger = logging.getLogger(__name__)

DivergencePolicy = Literal["stop", "skip", "restore"]
"""What a non-finite loss or gradient does: raise :class:`DivergenceError` (``"stop"``),
skip that optimiser step (``"skip"``), or load the weights, optimiser state, step count and
callback states of the last completed epoch and end training (``"restore"``).

Example:
    >>> from typing import get_args
    >>> get_args(DivergencePolicy)
    ('stop', 'skip', 'restore')
    >>> import torch
    >>> from seqlearn.nn import lecture_generator
    >>> from seqlearn.train import Trainer, next_token_loss
    >>> model = lecture_generator(hidden_size=8)
    >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> Trainer(model, sgd, next_token_loss, on_divergence="restore").on_divergence
    'restore'
"""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or gradient.

    Example:
        An infinite learning rate wrecks the weights at the first step, so the second
        batch's loss is not a number:

        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batch = collate_next_token([([1, 2, 3], 0)], eos_id=58)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=float("inf"))
        >>> try:
        ...     Trainer(model, sgd, next_token_loss, progress=False).fit([batch, batch], epochs=1)
        ... except DivergenceError as error:
        ...     print(error)
        non-finite loss nan at epoch 1, step 2, learning rate inf
    """


@final
class DivergenceGuard(Callback):
    """Check each batch's loss and each step's gradient norm, and apply a
    :data:`DivergencePolicy` when one is not finite.

    The loss is checked in :meth:`~seqlearn.train.Callback.on_loss`, before the backward
    pass (in several processes, a non-finite loss in any of them counts in all); the global
    gradient norm in :meth:`~seqlearn.train.Callback.on_before_step`, before any clipping.
    ``"skip"`` raises :class:`~seqlearn.train.CancelStep`; ``"restore"`` loads the state
    remembered when the last epoch ended (or the fit started) and raises
    :class:`~seqlearn.train.CancelFit`.
    The :class:`~seqlearn.train.Trainer` installs one from its ``on_divergence`` argument;
    it runs at ``order = -20``, before every other callback of the default order.

    Args:
        on_divergence: The policy.

    Attributes:
        diverged: Whether the policy ``"restore"`` ended the last fit.

    Raises:
        ValueError: If the policy is unknown.

    Example:
        >>> DivergenceGuard("skip").on_divergence
        'skip'
        >>> DivergenceGuard("ignore")
        Traceback (most recent call last):
        ...
        ValueError: on_divergence must be 'stop', 'skip' or 'restore', got 'ignore'
    """

    order = -20

    def __init__(self, on_divergence: DivergencePolicy = "stop") -> None:
        if on_divergence not in ("stop", "skip", "restore"):
            raise ValueError(
                f"on_divergence must be 'stop', 'skip' or 'restore', got {on_divergence!r}"
            )
        self.on_divergence = on_divergence
        self.diverged = False
        self._last_good: dict[str, Any] | None = None
        self._last_good_epoch: int | None = None

    @override
    def on_fit_start(self, trainer: TrainerView) -> None:
        self.diverged = False
        self._remember(trainer)

    @override
    def on_epoch_start(self, trainer: TrainerView, epoch: int) -> None:
        if self._last_good_epoch != trainer.epoch:  # an epoch has ended since
            self._remember(trainer)

    @override
    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        bad = float(not bool(torch.isfinite(loss.total.detach())))
        if distributed.all_reduce_sums([bad], trainer.device)[0] > 0:
            self._diverged(trainer, "loss", float(loss.total.detach()))

    @override
    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        if not math.isfinite(grad_norm):
            self._diverged(trainer, "gradient norm", grad_norm)

    @override
    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        if not self.diverged and self._last_good_epoch != trainer.epoch:
            self._remember(trainer)  # for train_epoch after the fit

    def _remember(self, trainer: TrainerView) -> None:
        if self.on_divergence != "restore":
            return
        self._last_good_epoch = trainer.epoch
        self._last_good = copy.deepcopy(
            {
                "model": trainer.model.state_dict(),
                "optimizer": trainer.optimizer.state_dict(),
                "step": trainer.step,
                "callbacks": [callback.state_dict() for callback in trainer.callbacks],
            }
        )

    def _diverged(self, trainer: TrainerView, what: str, value: float) -> NoReturn:
        learning_rate = float(trainer.optimizer.param_groups[0]["lr"])
        message = (
            f"non-finite {what} {value} at epoch {trainer.epoch + 1}, step {trainer.step + 1}, "
            f"learning rate {learning_rate:g}"
        )
        trainer.optimizer.zero_grad(set_to_none=True)
        if self.on_divergence == "stop":
            raise DivergenceError(message)
        if self.on_divergence == "skip":
            logger.warning("%s: step skipped", message)
            raise CancelStep(message)
        if self._last_good is None:
            raise DivergenceError(f"{message}; nothing to restore before a fit has run")
        logger.error("%s: restoring the weights of epoch %d and stopping", message, trainer.epoch)
        trainer.model.load_state_dict(self._last_good["model"])
        trainer.optimizer.load_state_dict(self._last_good["optimizer"])
        trainer.step = self._last_good["step"]
        for callback, state in zip(trainer.callbacks, self._last_good["callbacks"]):
            callback.load_state_dict(state)
        self.diverged = trainer.stop_training = True
        raise CancelFit(message)
