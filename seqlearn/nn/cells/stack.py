"""A stack of cells, which is itself a cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn._inputs import check_stack
from seqlearn.nn.cells.base import Cell
from seqlearn.nn.cells.fused import FusedLayer, call_kernel, one_call
from seqlearn.nn.registry import register

__all__ = ["StackedCell"]

StackState = tuple[Any, ...]
"""One state per stacked cell, in order (each a tensor or a named tuple of tensors)."""


@register("seqlearn.nn.StackedCell")
@final
class StackedCell(Cell[StackState]):
    r"""Cells stacked in depth: the output of each is the input of the next.

    A stack is a cell, so it runs anywhere a cell runs, and cells of different kinds and
    sizes mix freely as long as each cell's ``output_size`` equals the next one's
    ``input_size``. Dropout (active in training mode only) is applied to each cell's output
    before the next cell, never to the top output.

    With ``residual=True`` every cell after the first adds its input to its output
    (residual connections, as in GNMT). Writing ``x_l`` for the input of cell ``l`` (the
    previous output after dropout):

    .. math::
        y_0 = \mathrm{cell}_0(x_0), \qquad
        y_l = \mathrm{cell}_l(x_l) + x_l, \quad
        x_l = \mathrm{dropout}(y_{l-1}) \quad (l \ge 1)

    The stack runs a whole sequence itself (:meth:`run`): as one multi-layer kernel call
    when its cells are fused cells of one kind and size and there are no residual
    connections (as ``torch.nn.GRU(num_layers=L)`` does), else each cell over the whole
    sequence in turn, with the same dropout and sums between them.

    Args:
        cells: The cells, bottom first.
        dropout: Probability of zeroing an element between stacked cells.
        residual: Whether each cell after the first adds its input to its output.

    Raises:
        ValueError: If ``cells`` is empty, sizes do not chain, ``dropout`` is outside
            ``[0, 1)``, or ``residual`` is asked for and a cell after the first has
            ``input_size != output_size``.

    Shape:
        - ``x``: ``(B, I)`` with ``I = cells[0].input_size``; output:
          ``(B, cells[-1].output_size)``; state: a tuple of the cells' states.

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell, LSTMCell
        >>> stack = StackedCell([GRUCell(3, 8), LSTMCell(8, 4)], dropout=0.1)
        >>> y, state = stack(torch.zeros(2, 3), stack.initial_state(2))
        >>> y.shape, len(state)
        (torch.Size([2, 4]), 2)
        >>> deep = StackedCell([GRUCell(3, 8), GRUCell(8, 8), GRUCell(8, 8)], residual=True)
        >>> deep(torch.zeros(2, 3), deep.initial_state(2))[0].shape
        torch.Size([2, 8])
    """

    dropout: float
    residual: bool

    def __init__(
        self, cells: Sequence[Cell[Any]], *, dropout: float = 0.0, residual: bool = False
    ) -> None:
        if len(cells) == 0:
            raise ValueError("cells must hold at least one cell, got an empty sequence")
        check_stack(cells, dropout)
        if residual:
            mismatched = [
                f"{type(cell).__name__} at depth {depth} "
                f"(input_size {cell.input_size}, output_size {cell.output_size})"
                for depth, cell in enumerate(cells)
                if depth > 0 and cell.input_size != cell.output_size
            ]
            if mismatched:
                raise ValueError(
                    "residual connections need input_size == output_size for every cell "
                    f"after the first, got {', '.join(mismatched)}"
                )
        super().__init__(cells[0].input_size, cells[-1].hidden_size, cells[-1].output_size)
        self.cells = nn.ModuleList(cells)
        self.dropout = dropout
        self.residual = residual

    @property
    def layers(self) -> list[Cell[Any]]:
        """The stacked cells, bottom first.

        Example:
            >>> from seqlearn.nn import GRUCell, LSTMCell
            >>> stack = StackedCell([GRUCell(3, 8), LSTMCell(8, 4)])
            >>> [type(cell).__name__ for cell in stack.layers]
            ['GRUCell', 'LSTMCell']
        """
        return list(self.cells)  # type: ignore[arg-type]

    @override
    def forward(self, x: Tensor, state: StackState) -> tuple[Tensor, StackState]:
        if not isinstance(state, tuple):
            raise TypeError(
                f"expected state as a tuple of {len(self.cells)} cell states, "
                f"got {type(state).__name__}"
            )
        if len(state) != len(self.cells):
            raise ValueError(
                f"expected a state for each of {len(self.cells)} cells, got {len(state)}"
            )
        new_states = []
        for depth, (cell, cell_state) in enumerate(zip(self.layers, state)):
            x = self._between(depth, x)
            y, new_state = cell(x, cell_state)  # each cell checks its own step
            x = self._joined(depth, x, y)
            new_states.append(new_state)
        return x, tuple(new_states)

    @override
    def step(self, x: Tensor, state: StackState) -> tuple[Tensor, StackState]:
        new_states = []
        for depth, (cell, cell_state) in enumerate(zip(self.layers, state)):
            x = self._between(depth, x)
            y, new_state = cell.step(x, cell_state)
            x = self._joined(depth, x, y)
            new_states.append(new_state)
        return x, tuple(new_states)

    @override
    def run(
        self, data: Tensor, batch_sizes: Tensor, state: StackState, *, fused: bool = True
    ) -> tuple[Tensor, StackState]:
        """Run the stack over a whole packed sequence: one multi-layer kernel call when it
        can, else each cell over the whole sequence in turn (see :meth:`Cell.run`).

        Args:
            data: The packed inputs, ``(N, I)``.
            batch_sizes: Rows running at each step, ``(T,)``, on the CPU.
            state: One state per cell, rows longest first.
            fused: Whether torch's fused kernels may run.

        Returns:
            The packed outputs of the top cell and each cell's final state.
        """
        layers = self.fused_layers() if fused else None
        if layers is not None and not self.residual and one_call(layers):
            dropout = self.dropout if self.training else 0.0
            data, finals = call_kernel(
                layers, data, batch_sizes, list(state), dropout=dropout, training=self.training
            )
            return data, tuple(finals)
        new_states = []
        for depth, (cell, cell_state) in enumerate(zip(self.layers, state)):
            inputs = self._between(depth, data)
            out, final = cell.run(inputs, batch_sizes, cell_state, fused=fused)
            data = self._joined(depth, inputs, out)  # packed, (N, O)
            new_states.append(final)
        return data, tuple(new_states)

    def _between(self, depth: int, x: Tensor) -> Tensor:
        """The input of cell ``depth``: the one below's output, after dropout."""
        if depth == 0 or not self.dropout:
            return x
        return nn.functional.dropout(x, self.dropout, self.training)

    def _joined(self, depth: int, x: Tensor, y: Tensor) -> Tensor:
        """The output of cell ``depth``: ``y``, plus its input with residual connections."""
        return y + x if self.residual and depth > 0 else y

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StackState:
        """Each cell's own initial state (zeros, or learned for a cell that learns it)."""
        return tuple(
            cell.initial_state(batch_size, device=device, dtype=dtype) for cell in self.layers
        )

    @override
    def final_output(self, state: StackState) -> Tensor:
        """The top cell's output (a residual stack adds the input to it, so the state does
        not hold its output: it raises ``TypeError``)."""
        if self.residual:
            raise TypeError("a residual StackedCell's state does not hold its output")
        return self.layers[-1].final_output(state[-1])

    @override
    def state_sizes(self) -> tuple[Any, ...]:
        """One state per cell, bottom first."""
        return tuple(cell.state_sizes() for cell in self.layers)

    @override
    def fused_layers(self) -> list[FusedLayer] | None:
        """One kernel layer per cell, if every cell runs fused as one layer; else ``None``.

        Returns:
            The layers, bottom first, or ``None``.
        """
        layers = [cell.fused_layers() for cell in self.layers]
        if any(layer is None or len(layer) != 1 for layer in layers):
            return None
        return [layer[0] for layer in layers if layer is not None]

    @override
    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, residual={self.residual}"
