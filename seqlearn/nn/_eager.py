"""Keeping a function out of :func:`torch.compile`'s graphs (private to :mod:`seqlearn.nn`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch

__all__ = ["eager"]

F = TypeVar("F", bound=Callable[..., Any])


def eager(fn: F) -> F:
    """``fn`` run eagerly inside a compiled model: a graph break around it.

    The packed runs of the recurrent layers read the lengths on the host to pack the batch
    (data-dependent shapes that a graph cannot hold); the rest of a model compiles.
    """
    return cast(F, torch.compiler.disable(fn))  # type: ignore[no-untyped-call]
