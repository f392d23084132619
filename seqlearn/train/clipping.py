"""Gradient clipping, as a callback: by value, then by global norm, before each step."""

from __future__ import annotations

from torch import nn
from typing_extensions import final, override

from seqlearn._checks import check_real
from seqlearn.train.events import Callback, TrainerView

__all__ = ["GradientClipping"]


@final
class GradientClipping(Callback):
    """Clip the gradients before each optimiser step, the remedy for exploding gradients.

    ``clip_grad_value`` clamps every gradient element to ``[-value, value]``
    (:func:`torch.nn.utils.clip_grad_value_`); then ``clip_grad_norm`` scales all gradients
    together so that their global 2-norm is at most the value
    (:func:`torch.nn.utils.clip_grad_norm_`). The :class:`~seqlearn.train.Trainer` installs
    one from its own ``clip_grad_norm`` and ``clip_grad_value`` arguments. It runs at
    ``order = -10``: after the :class:`~seqlearn.train.DivergenceGuard` has checked the
    gradient norm (clipping by value would turn an infinite gradient finite), before your
    callbacks.

    Args:
        clip_grad_norm: The largest global norm, or ``None`` not to clip by norm.
        clip_grad_value: The largest absolute element, or ``None`` not to clip by value.

    Raises:
        TypeError: If a value is not a real number.
        ValueError: If a value is not positive, or both are ``None``.

    Example:
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.train import Trainer, next_token_loss
        >>> model = lecture_generator(hidden_size=8)
        >>> batch = collate_next_token([([1, 2, 3], 0)], eos_id=58)
        >>> sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> clipping = GradientClipping(clip_grad_norm=1e-3)
        >>> trainer = Trainer(model, sgd, next_token_loss, callbacks=[clipping], progress=False)
        >>> _ = trainer.fit([batch], epochs=1)  # the same as Trainer(..., clip_grad_norm=1e-3)
        >>> GradientClipping(clip_grad_value=0)
        Traceback (most recent call last):
        ...
        ValueError: clip_grad_value must be positive, got 0
    """

    order = -10

    def __init__(
        self, *, clip_grad_norm: float | None = None, clip_grad_value: float | None = None
    ) -> None:
        for name, value in [
            ("clip_grad_norm", clip_grad_norm),
            ("clip_grad_value", clip_grad_value),
        ]:
            if value is None:
                continue
            check_real(name, value)
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if clip_grad_norm is None and clip_grad_value is None:
            raise ValueError("expected clip_grad_norm, clip_grad_value or both, got neither")
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value

    @override
    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        parameters = [p for p in trainer.model.parameters() if p.grad is not None]
        if self.clip_grad_value is not None:
            nn.utils.clip_grad_value_(parameters, self.clip_grad_value)
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(parameters, self.clip_grad_norm)
