"""A stack of cells, which is itself a cell."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell
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

    :class:`~seqlearn.nn.Recurrent` applies the same sums on its fused path.

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
        for below, above in itertools.pairwise(cells):
            if below.output_size != above.input_size:
                raise ValueError(
                    f"cannot stack {type(above).__name__} with input_size {above.input_size} "
                    f"on {type(below).__name__} with output_size {below.output_size}"
                )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
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
            if depth > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            y, new_state = cell(x, cell_state)
            x = y + x if self.residual and depth > 0 else y
            new_states.append(new_state)
        return x, tuple(new_states)

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StackState:
        return tuple(
            cell.initial_state(batch_size, device=device, dtype=dtype) for cell in self.layers
        )

    @override
    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, residual={self.residual}"
