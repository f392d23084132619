"""Small comparisons shared by several test modules."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def equal_states(a: Any, b: Any) -> bool:
    """Whether two nested state dicts hold the same values and bit-identical tensors."""
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(equal_states(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(equal_states(x, y) for x, y in zip(a, b))
        )
    return bool(a == b)
