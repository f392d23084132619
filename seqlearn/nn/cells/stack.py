"""A stack of cells, which is itself a cell."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell

__all__ = ["StackedCell"]

StackState = tuple[Any, ...]
"""One state per stacked cell, in order (each a tensor or a named tuple of tensors)."""


@final
class StackedCell(Cell[StackState]):
    """Cells stacked in depth: the output of each is the input of the next.

    A stack is a cell, so it runs anywhere a cell runs, and cells of different kinds and
    sizes mix freely as long as each cell's ``output_size`` equals the next one's
    ``input_size``. Dropout (active in training mode only) is applied to each cell's output
    before the next cell, never to the top output.

    Args:
        cells: The cells, bottom first.
        dropout: Probability of zeroing an element between stacked cells.

    Raises:
        ValueError: If ``cells`` is empty, sizes do not chain, or ``dropout`` is outside
            ``[0, 1)``.

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
    """

    def __init__(self, cells: Sequence[Cell[Any]], *, dropout: float = 0.0) -> None:
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
        super().__init__(cells[0].input_size, cells[-1].hidden_size, cells[-1].output_size)
        self.cells = nn.ModuleList(cells)
        self.dropout = dropout

    @property
    def layers(self) -> list[Cell[Any]]:
        """The stacked cells, bottom first."""
        return list(self.cells)  # type: ignore[arg-type]

    @override
    def forward(self, x: Tensor, state: StackState) -> tuple[Tensor, StackState]:
        if len(state) != len(self.cells):
            raise ValueError(
                f"expected a state for each of {len(self.cells)} cells, got {len(state)}"
            )
        new_states = []
        for depth, (cell, cell_state) in enumerate(zip(self.layers, state)):
            if depth > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            x, new_state = cell(x, cell_state)
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
        return f"dropout={self.dropout}"
