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

    Holds ``weight_ih (G*H, I)``, ``weight_hh (G*H, R)``, ``bias_ih (G*H,)`` and
    ``bias_hh (G*H,)``, named as in :class:`torch.nn.GRUCell` and :class:`torch.nn.LSTMCell`
    so their weights copy over one for one. ``R`` is the size of the fed-back output: ``H``,
    or ``P = proj_size`` for a cell with a projection, which then also holds
    ``weight_hr (P, H)`` as :class:`torch.nn.LSTM` does.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        proj_size: Size ``P`` of the projected output, or 0 for none; only cells whose
            ``supports_projection`` is true accept a nonzero value, and ``P < H``.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is invalid or the cell takes no projection.

    Example:
        Weights copy over from torch.nn, and the step gives the same result:

        >>> import torch
        >>> from seqlearn.nn import GRUCell, LSTMCell
        >>> reference, cell = torch.nn.GRUCell(3, 4), GRUCell(3, 4)
        >>> cell.load_state_dict(reference.state_dict())
        <All keys matched successfully>
        >>> x, h = torch.randn(2, 3), torch.randn(2, 4)
        >>> torch.allclose(cell(x, h)[0], reference(x, h), atol=1e-6)
        True
        >>> lstm = LSTMCell(3, 4, proj_size=2)
        >>> lstm.weight_ih.shape, lstm.weight_hh.shape, lstm.weight_hr.shape
        (torch.Size([16, 3]), torch.Size([16, 2]), torch.Size([2, 4]))
    """

    num_gates: ClassVar[int]
    supports_projection: ClassVar[bool] = False
    """Whether the cell (and its torch kernel) accepts ``proj_size > 0``."""

    proj_size: int
    weight_hr: nn.Parameter | None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        proj_size: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative int, got {proj_size!r}")
        if proj_size and not self.supports_projection:
            raise ValueError(
                f"{type(self).__name__} takes no projection, got proj_size={proj_size}"
            )
        if proj_size and isinstance(hidden_size, int) and proj_size >= hidden_size:
            raise ValueError(
                f"proj_size must be smaller than hidden_size ({hidden_size}), got {proj_size}"
            )
        super().__init__(input_size, hidden_size, proj_size or hidden_size)
        self.proj_size = proj_size
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, self.output_size))  # (G*H, R)
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size)) if proj_size else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every weight from ``U(-1/sqrt(H), 1/sqrt(H))``, as torch.nn does.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        uniform_init_(self.fused_weights(), self.hidden_size, generator)

    @override
    def fused_weights(self) -> list[Tensor]:
        weights: list[Tensor] = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        if self.weight_hr is not None:
            weights.append(self.weight_hr)  # torch.lstm's order with projections
        return weights

    @override
    def extra_repr(self) -> str:
        proj = f", proj_size={self.proj_size}" if self.proj_size else ""
        return f"{self.input_size}, {self.hidden_size}{proj}"
