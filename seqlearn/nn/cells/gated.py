"""The weight layout that torch.nn's GRU and LSTM share, for cells with gates."""

from __future__ import annotations

from typing import ClassVar, TypeVar

import torch
from torch import Tensor, nn
from typing_extensions import override

from seqlearn.nn.cells.base import FusedCell, uniform_init_

__all__ = ["GatedCell"]

StateT = TypeVar("StateT")


class GatedCell(FusedCell[StateT]):
    """Abstract base of cells with ``G`` gates in torch.nn's layout (GRU: 3, LSTM: 4).

    Holds ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, ``bias_ih (G*H,)`` and
    ``bias_hh (G*H,)``, named as in :class:`torch.nn.GRUCell` and :class:`torch.nn.LSTMCell`
    so their weights copy over one for one.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        generator: Random generator for the initial weights.
    """

    num_gates: ClassVar[int]

    def __init__(
        self, input_size: int, hidden_size: int, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(input_size, hidden_size)
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every weight from ``U(-1/sqrt(H), 1/sqrt(H))``, as torch.nn does.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        uniform_init_(self.fused_weights(), self.hidden_size, generator)

    @override
    def fused_weights(self) -> list[Tensor]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    @override
    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
