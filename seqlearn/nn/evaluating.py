"""Running a model for predictions: eval mode and inference mode, put back afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["evaluating"]


@contextmanager
def evaluating(model: object) -> Iterator[None]:
    """Eval mode and :func:`torch.inference_mode` for the duration of a ``with`` block.

    Every module's previous training flag (submodules included) is restored afterwards,
    also when the block raises. A model that is not a :class:`torch.nn.Module` only gets
    inference mode. Decoders, predictors and validation run models this way.

    Args:
        model: The model to run.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Dropout(0.5))
        >>> with evaluating(model):
        ...     model[0].training, torch.is_inference_mode_enabled()
        (False, True)
        >>> model[0].training
        True
    """
    if not isinstance(model, torch.nn.Module):
        with torch.inference_mode():
            yield
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        for module, training in modes:
            module.training = training
