"""A wrapper cell whose initial state is learned rather than zeros."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell, StateSizes
from seqlearn.nn.cells.fused import FusedLayer
from seqlearn.nn.registry import register
from seqlearn.nn.state import map_state

__all__ = ["LearnedInitialState"]

StateT = TypeVar("StateT")


@register("seqlearn.nn.LearnedInitialState")
@final
class LearnedInitialState(Cell[StateT]):
    r"""Wraps a cell so that its sequences start from a learned state instead of zeros.

    Holds one parameter per tensor of the wrapped cell's zero state, without the batch
    dimension (``(H,)`` for a GRU; ``(O,)`` and ``(H,)`` for an LSTM's ``h`` and ``c``;
    one or more per cell of a stack), initialised to zeros, so a new wrapper starts out
    exactly like the wrapped cell. :meth:`initial_state` broadcasts them over the batch,

    .. math::
        s_0^{(b)} = \theta \quad \text{for every sequence } b,

    and :meth:`forward` is the wrapped cell's step, so the state type, sizes and outputs
    are the wrapped cell's. Gradients of a loss reach :math:`\theta` through the state.

    It is an option on any cell that costs no speed: the wrapper runs a whole sequence
    exactly as the wrapped cell does (:meth:`run`, on torch.nn's fused kernels when the
    wrapped cell, or every cell of a wrapped stack, is fused), and a layer sees one more
    cell, not a wrapper to take apart.

    Args:
        cell: The cell to wrap.

    Raises:
        TypeError: If ``cell`` is not a seqlearn :class:`Cell`.

    Shape:
        - As the wrapped cell's: ``x`` ``(B, I)``, output ``(B, O)``; the initial state
          has the structure of ``cell.initial_state(B)``.

    Example:
        >>> import torch
        >>> from seqlearn.nn import LSTMCell
        >>> cell = LearnedInitialState(LSTMCell(3, 4, proj_size=2))
        >>> [tuple(p.shape) for p in cell.initial]
        [(2,), (4,)]
        >>> state = cell.initial_state(5)
        >>> state.h.shape, state.c.shape
        (torch.Size([5, 2]), torch.Size([5, 4]))
        >>> y, state = cell(torch.zeros(5, 3), state)
        >>> y.shape
        torch.Size([5, 2])
    """

    cell: Cell[StateT]
    initial: nn.ParameterList

    def __init__(self, cell: Cell[StateT]) -> None:
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a seqlearn Cell, got {type(cell).__name__}")
        super().__init__(cell.input_size, cell.hidden_size, cell.output_size)
        self.cell = cell
        rows: list[Tensor] = []

        def collect(t: Tensor) -> Tensor:
            rows.append(t[0])
            return t

        map_state(collect, cell.initial_state(1))  # (1, ...) each, the cell's device and dtype
        self.initial = nn.ParameterList(nn.Parameter(torch.zeros_like(row)) for row in rows)

    def reset_parameters(self) -> None:
        """Set the learned initial state back to zeros (the wrapped cell is left alone)."""
        with torch.no_grad():
            for parameter in self.initial:
                parameter.zero_()

    @override
    def forward(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        return self.cell(x, state)

    @override
    def step(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        return self.cell.step(x, state)

    @override
    def run(
        self, data: Tensor, batch_sizes: Tensor, state: StateT, *, fused: bool = True
    ) -> tuple[Tensor, StateT]:
        """The wrapped cell's run (see :meth:`Cell.run`): the learned state only starts it.

        Args:
            data: The packed inputs.
            batch_sizes: Rows running at each step, on the CPU.
            state: The state before the first step.
            fused: Whether torch's fused kernels may run.

        Returns:
            The packed outputs and each row's final state.
        """
        return self.cell.run(data, batch_sizes, state, fused=fused)

    @override
    def fused_layers(self) -> list[FusedLayer] | None:
        """The wrapped cell's kernel layers."""
        return self.cell.fused_layers()

    @override
    def final_output(self, state: StateT) -> Tensor:
        """The wrapped cell's."""
        return self.cell.final_output(state)

    @override
    def state_sizes(self) -> StateSizes:
        """The wrapped cell's state sizes."""
        return self.cell.state_sizes()

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StateT:
        """The learned state, expanded to ``B`` rows (a view: it shares the parameters).

        Args:
            batch_size: Number of sequences ``B``.
            device: Device of the state; defaults to the wrapped cell's.
            dtype: Floating dtype; defaults to the wrapped cell's.

        Returns:
            A state with the structure of the wrapped cell's, each tensor
            ``(B, *parameter.shape)``.
        """
        zeros = self.cell.initial_state(batch_size, device=device, dtype=dtype)
        learned = iter(self.initial)
        return map_state(lambda t: next(learned).to(t).expand_as(t), zeros)

    @override
    def extra_repr(self) -> str:
        return f"learned={[tuple(p.shape) for p in self.initial]}"
