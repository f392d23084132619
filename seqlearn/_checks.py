"""Type checks of plain arguments, and checking once per call, shared by the subpackages
(private).

Each check raises a :class:`TypeError` naming the argument and the value received, so a
float where an int belongs (``batch_size=2.5``, ``eos_id=3.0``) fails at the call rather
than being truncated or failing deep inside torch. Range checks stay with the callers,
whose messages say what range they expect.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

__all__ = ["check_int", "check_real", "checking", "trusted"]


def check_int(name: str, value: object) -> int:
    """``value`` as an ``int``; anything usable as an index (a NumPy integer) counts.

    Raises:
        TypeError: If ``value`` is a bool or not an integer, naming ``name``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None


def check_real(name: str, value: object) -> None:
    """Check that ``value`` is a real number (an int or a float, not a bool).

    Raises:
        TypeError: If it is not, naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")


_TRUSTED: ContextVar[bool] = ContextVar("seqlearn_trusted", default=False)


@contextmanager
def trusted() -> Iterator[None]:
    """Within this block, seqlearn's entry points skip their value checks.

    A public entry point that has validated its inputs (a model's ``forward``, a decoder
    that checked its prompts) runs its parts inside this block, so that the layers, pooling
    and cells it calls do not check the same lengths and ids again: each forward checks
    once, at its boundary, and the hot path makes no host synchronisation for checks.
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def checking() -> bool:
    """Whether the caller should validate its inputs: outside :func:`trusted`, and not
    while :func:`torch.compile` or an export traces (compiled graphs trust their inputs)."""
    return not torch.compiler.is_compiling() and not _TRUSTED.get()
