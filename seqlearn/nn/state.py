"""Recurrent state: a tensor or a (named) tuple of states, batch dimension first.

Every recurrent state in seqlearn is a *state tree*: a :class:`torch.Tensor` of shape
``(B, ...)``, or a tuple (plain or :class:`~typing.NamedTuple`) whose items are state trees.
The helpers here map a function over every tensor of such a tree, which is all that layers
(freezing finished sequences) and decoders (selecting or repeating rows) need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from torch import Tensor

__all__ = [
    "map_sizes",
    "map_state",
    "rebuild_state",
    "select_rows",
    "state_leaves",
    "where_rows",
    "zip_map_state",
]

StateT = TypeVar("StateT")


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def _rebuild(template: tuple[Any, ...], items: list[Any]) -> tuple[Any, ...]:
    if _is_namedtuple(template):
        rebuilt: tuple[Any, ...] = type(template)(*items)
        return rebuilt
    return tuple(items)


def map_state(fn: Callable[[Tensor], Tensor], state: StateT) -> StateT:
    """Apply ``fn`` to every tensor of a state tree, keeping its structure.

    Args:
        fn: Function from a tensor to a tensor.
        state: A tensor or a (named) tuple of state trees.

    Returns:
        A state tree of the same structure holding ``fn`` of each tensor.

    Raises:
        TypeError: If ``state`` holds something that is neither a tensor nor a tuple.

    Example:
        >>> import torch
        >>> map_state(lambda t: t * 2, (torch.ones(1), torch.zeros(1)))
        (tensor([2.]), tensor([0.]))
    """
    if isinstance(state, Tensor):
        return cast(StateT, fn(state))
    if isinstance(state, tuple):
        return cast(StateT, _rebuild(state, [map_state(fn, item) for item in state]))
    raise TypeError(
        f"expected a recurrent state made of tensors and tuples, got {type(state).__name__}"
    )


def zip_map_state(fn: Callable[[Tensor, Tensor], Tensor], first: StateT, second: StateT) -> StateT:
    """Apply ``fn`` to matching tensors of two state trees of the same structure.

    Args:
        fn: Function of two tensors returning a tensor.
        first: A state tree.
        second: A state tree of the same structure as ``first``.

    Returns:
        A state tree holding ``fn(a, b)`` for each pair of matching tensors.

    Raises:
        TypeError: If the two trees differ in structure.
    """
    if isinstance(first, Tensor) and isinstance(second, Tensor):
        return cast(StateT, fn(first, second))
    if isinstance(first, tuple) and isinstance(second, tuple) and len(first) == len(second):
        items = [zip_map_state(fn, a, b) for a, b in zip(first, second)]
        return cast(StateT, _rebuild(first, items))
    raise TypeError(
        "expected two recurrent states of the same structure, got "
        f"{type(first).__name__} and {type(second).__name__}"
    )


def where_rows(keep_new: Tensor, new: StateT, old: StateT) -> StateT:
    """Take rows of ``new`` where ``keep_new`` is true and rows of ``old`` elsewhere.

    Args:
        keep_new: Boolean mask of shape ``(B,)``.
        new: A state tree whose tensors have batch size ``B``.
        old: A state tree of the same structure.

    Returns:
        The merged state tree.

    Example:
        Keep the old state of a finished sequence (row 1) and step the others:

        >>> import torch
        >>> from seqlearn.nn import LSTMState
        >>> old = LSTMState(torch.zeros(3, 2), torch.zeros(3, 2))
        >>> new = LSTMState(torch.ones(3, 2), torch.ones(3, 2))
        >>> where_rows(torch.tensor([True, False, True]), new, old).h
        tensor([[1., 1.],
                [0., 0.],
                [1., 1.]])
    """

    def merge(a: Tensor, b: Tensor) -> Tensor:
        mask = keep_new.view(-1, *([1] * (a.dim() - 1)))
        return torch.where(mask, a, b)

    return zip_map_state(merge, new, old)


def select_rows(state: StateT, index: Tensor) -> StateT:
    """Select (or repeat) batch rows of every tensor of a state tree.

    Args:
        state: A state tree with batch size ``B``.
        index: Long tensor of shape ``(N,)`` with values in ``[0, B)``.

    Returns:
        A state tree with batch size ``N``.

    Example:
        Keep rows 2 and 0, and repeat row 0, as beam search does with its hypotheses:

        >>> import torch
        >>> from seqlearn.nn import LSTMState
        >>> state = LSTMState(torch.arange(3.0).unsqueeze(1), torch.zeros(3, 1))
        >>> select_rows(state, torch.tensor([2, 0, 0])).h
        tensor([[2.],
                [0.],
                [0.]])
    """
    return map_state(lambda t: t.index_select(0, index), state)


def state_leaves(state: object) -> list[Tensor]:
    """The tensors of a state tree, in order (what :func:`rebuild_state` puts back).

    Args:
        state: A state tree.

    Returns:
        Its tensors, depth first.

    Example:
        >>> import torch
        >>> from seqlearn.nn import LSTMState
        >>> leaves = state_leaves((LSTMState(torch.zeros(1), torch.ones(1)), torch.ones(2)))
        >>> [tuple(t.shape) for t in leaves]
        [(1,), (1,), (2,)]
    """
    leaves: list[Tensor] = []

    def take(tensor: Tensor) -> Tensor:
        leaves.append(tensor)
        return tensor

    map_state(take, state)
    return leaves


def rebuild_state(template: StateT, leaves: list[Tensor]) -> StateT:
    """A state tree of ``template``'s structure holding ``leaves`` in order.

    Args:
        template: A state tree of the wanted structure.
        leaves: As many tensors as ``template`` holds, depth first.

    Returns:
        The state tree.

    Example:
        >>> import torch
        >>> from seqlearn.nn import LSTMState
        >>> template = LSTMState(torch.zeros(1), torch.zeros(1))
        >>> rebuild_state(template, [torch.ones(1), torch.full((1,), 2.0)])
        LSTMState(h=tensor([1.]), c=tensor([2.]))
    """
    remaining = iter(leaves)
    return map_state(lambda _: next(remaining), template)


def map_sizes(fn: Callable[[int], Tensor], sizes: object) -> Any:
    """A state tree made from a tree of sizes (a cell's :meth:`~seqlearn.nn.Cell.state_sizes`):
    ``fn`` of each size, in a tree of the same structure.

    Args:
        fn: Function from a feature size to a tensor.
        sizes: An ``int``, or a (named) tuple of size trees.

    Returns:
        The state tree.

    Raises:
        TypeError: If ``sizes`` holds something other than ints and tuples.

    Example:
        >>> import torch
        >>> from seqlearn.nn import LSTMState
        >>> map_sizes(lambda n: torch.zeros(2, n), (3, LSTMState(4, 5)))[1].c.shape
        torch.Size([2, 5])
    """
    if isinstance(sizes, int) and not isinstance(sizes, bool):
        return fn(sizes)
    if isinstance(sizes, tuple):
        return _rebuild(sizes, [map_sizes(fn, item) for item in sizes])
    raise TypeError(f"expected state sizes made of ints and tuples, got {type(sizes).__name__}")
