"""Token and category inputs shared by the models: one-hot or learned vectors, id checks.

Private to :mod:`seqlearn.nn`; the models re-use these so they encode ids the same way.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import torch
from torch import Tensor, nn

from seqlearn._checks import check_int

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def optional_embedding(count: int, dim: int | None, name: str) -> nn.Embedding | None:
    """A learned ``(count, dim)`` embedding, or ``None`` for one-hot vectors; ``name`` is
    the argument that gave ``dim``, for errors."""
    if dim is None:
        return None
    if check_int(name, dim) < 1:
        raise ValueError(f"embedding sizes must be positive, got {dim!r} for {name}")
    return allocated(nn.Embedding, count, dim)


def allocated(module_class: type[ModuleT], *sizes: int) -> ModuleT:
    """A module whose weights the caller's ``reset_parameters`` draws; building it leaves
    PyTorch's global random state as it was.

    (Not :func:`torch.nn.utils.skip_init`: its meta-device initialisation imports
    ``torch._dynamo``, a second of start-up for every process that builds a model.)
    """
    with torch.random.fork_rng(devices=[]):
        return module_class(*sizes)


def encode_ids(
    embedding: nn.Embedding | None, ids: Tensor, count: int, dtype: torch.dtype
) -> Tensor:
    """Vectors of ids ``(...)`` -> ``(..., E)``: learned, or one-hot of size ``count``."""
    if embedding is None:
        return nn.functional.one_hot(ids.long(), count).to(dtype)  # one_hot needs int64
    return cast(Tensor, embedding(ids))


def check_positive(name: str, value: object) -> None:
    """Raise unless ``value`` is a positive int (a size such as ``vocab_size``)."""
    if check_int(name, value) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")


def check_ids(name: str, ids: Any, count: int) -> None:
    """Raise unless ``ids`` is an integer tensor with values in ``[0, count)`` (values are
    not checked inside :func:`torch.compile` or an export, which trust their inputs)."""
    if not isinstance(ids, Tensor) or ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must be an integer tensor of ids, got {ids!r}")
    if (
        not torch.compiler.is_compiling()
        and ids.numel()
        and (int(ids.min()) < 0 or int(ids.max()) >= count)
    ):
        raise ValueError(
            f"{name} must lie in [0, {count}), got values from {int(ids.min())} to {int(ids.max())}"
        )
