"""Stepping a batch whose rows end at different times: the batch shrinks as rows end.

Rows are sorted longest first, so at step ``t`` the rows still running are always the
leading ``sizes[t]`` rows of the batch: each step runs on them alone, with no masking and
no wasted work, and a row's last state is set aside when it ends. Both
:class:`~seqlearn.nn.Recurrent`'s step-by-step path (over packed sequences, whose
``batch_sizes`` are exactly these sizes) and the decoders' feeding of prompts of
different lengths run this way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import torch
from torch import Tensor

from seqlearn.nn.state import map_state, state_leaves, zip_map_state

__all__ = ["shrinking_steps"]

StateT = TypeVar("StateT")


def shrinking_steps(
    step: Callable[[Tensor, StateT], tuple[Tensor, StateT]],
    inputs: Sequence[Tensor],
    state: StateT,
) -> tuple[list[Tensor], StateT]:
    """Run ``step`` over time on a batch that shrinks as its rows end.

    ``inputs[t]`` holds the inputs of the rows still running at step ``t``: the first
    ``len(inputs[t])`` rows of the batch, whose sizes never grow (rows sorted longest
    first, as in a :class:`~torch.nn.utils.rnn.PackedSequence`). Before each step the rows
    that have ended are set aside with their state; at the end the set-aside states are put
    back below the running ones, so the final state is each row's state after its own last
    step, in row order.

    Args:
        step: One step, ``(inputs of the running rows, their state) -> (outputs, state)``.
        inputs: The inputs of each step, ``(size_t, ...)``, sizes non-increasing.
        state: The state of all rows before the first step (a state tree).

    Returns:
        The outputs of every step (``(size_t, ...)`` each; concatenated, they are packed
        data) and every row's last state.

    Example:
        Rows of lengths 3, 2 and 1, each step adding its input to a running sum:

        >>> import torch
        >>> inputs = [torch.tensor([1.0, 10.0, 100.0]), torch.tensor([2.0, 20.0]),
        ...           torch.tensor([3.0])]
        >>> outputs, sums = shrinking_steps(lambda x, s: (x + s, x + s), inputs,
        ...                                 torch.zeros(3))
        >>> sums
        tensor([  6.,  30., 100.])
        >>> [output.tolist() for output in outputs]
        [[1.0, 10.0, 100.0], [3.0, 30.0], [6.0]]
    """
    running = state_leaves(state)[0].shape[0]  # rows with no step at all end at once
    ended: list[StateT] = []
    outputs: list[Tensor] = []
    for x in inputs:
        size = x.shape[0]
        if size < running:  # the last rows have ended: keep their states aside
            ended.append(map_state(partial(_rows, start=size, stop=running), state))
            state, running = map_state(partial(_rows, start=0, stop=size), state), size
        y, state = step(x, state)
        outputs.append(y)
    for piece in reversed(ended):  # rows in order: longest first
        state = zip_map_state(_concat, state, piece)
    return outputs, state


def _rows(tensor: Tensor, *, start: int, stop: int) -> Tensor:
    return tensor[start:stop]


def _concat(first: Tensor, second: Tensor) -> Tensor:
    return torch.cat((first, second))
