"""Token and category inputs shared by the models: one-hot or learned vectors, id checks.

Private to :mod:`seqlearn.nn`; the models re-use these so they encode ids the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, cast

import torch
from torch import Tensor, nn

from seqlearn._checks import check_int, checking
from seqlearn.nn.lengths import value_range

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
    not checked where :func:`~seqlearn._checks.checking` says not to: in compiled graphs,
    exports, and calls from a forward that checked them)."""
    if not isinstance(ids, Tensor) or ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must be an integer tensor of ids, got {ids!r}")
    if checking() and ids.numel():
        low, high = value_range(ids)
        if low < 0 or high >= count:
            raise ValueError(f"{name} must lie in [0, {count}), got values from {low} to {high}")


class _Sized(Protocol):
    @property
    def input_size(self) -> int: ...
    @property
    def output_size(self) -> int: ...


def check_stack(parts: Sequence[_Sized], dropout: float) -> None:
    """Raise unless each part's ``input_size`` is the ``output_size`` below it and
    ``dropout`` is in ``[0, 1)``: what the cell stack and the layer stack both ask."""
    for below, above in itertools.pairwise(parts):
        if below.output_size != above.input_size:
            raise ValueError(
                f"cannot stack {type(above).__name__} with input_size {above.input_size} "
                f"on {type(below).__name__} with output_size {below.output_size}"
            )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
