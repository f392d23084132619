"""The long short-term memory (LSTM) cell, optionally with a projection, and its state."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import FusedMode, check_step_input, check_step_state
from seqlearn.nn.cells.gated import GatedCell
from seqlearn.nn.registry import register

__all__ = ["LSTMCell", "LSTMState"]


class LSTMState(NamedTuple):
    """State of an :class:`LSTMCell`.

    Shape:
        - ``h``: ``(B, H)``, the hidden state (also the cell's output); ``(B, P)`` for a
          cell with ``proj_size = P``.
        - ``c``: ``(B, H)``, the memory cell.

    Example:
        >>> import torch
        >>> cell = LSTMCell(3, 4)
        >>> state = cell.initial_state(2)
        >>> state.h.shape, state.c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
        >>> y, state = cell(torch.randn(2, 3), state)
        >>> torch.equal(y, state.h)
        True
    """

    h: Tensor
    c: Tensor


def check_lstm_state(state: object, batch_size: int, output_size: int, hidden_size: int) -> None:
    """Check an LSTM step's state: an :class:`LSTMState` of ``(B, O)`` and ``(B, H)`` tensors.

    Raises:
        TypeError: If ``state`` is not an :class:`LSTMState` of floating point tensors.
        ValueError: If ``state.h`` is not ``(B, O)`` or ``state.c`` not ``(B, H)``.
    """
    if not isinstance(state, LSTMState):
        raise TypeError(f"expected state as an LSTMState(h, c), got {type(state).__name__}")
    check_step_state("state.h", state.h, batch_size, output_size)
    check_step_state("state.c", state.c, batch_size, hidden_size)


@register("seqlearn.nn.LSTMCell")
@final
class LSTMCell(GatedCell[LSTMState]):
    r"""Long short-term memory cell, with :class:`torch.nn.LSTM`'s equations and layout.

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad
        h_t = o_t \odot \tanh(c_t), \qquad y_t = h_t
        \end{aligned}

    With ``proj_size = P > 0`` the output is projected, as in :class:`torch.nn.LSTM`:
    :math:`h_t = W_{hr} (o_t \odot \tanh(c_t))`, so ``h_t`` and ``y_t`` have size ``P``
    (``output_size = P``), ``c_t`` keeps size ``H``, ``weight_hh`` is ``(4H, P)`` and
    ``weight_hr`` is ``(P, H)``. Without a projection ``weight_hr`` is ``None``.

    Runs on :func:`torch.lstm` inside :class:`~seqlearn.nn.Recurrent`, with or without a
    projection (``fused_weights()`` then ends with ``weight_hr``, torch.nn's order).

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the memory cell (and of ``h`` without a projection).
        proj_size: Size ``P`` of the projected ``h``; 0 (the default) for no projection.
            Must be smaller than ``H``, as in :class:`torch.nn.LSTM`.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not a positive int, or ``proj_size`` is negative or not
            below ``hidden_size``.

    Shape:
        - ``x``: ``(B, I)``; ``state``: :class:`LSTMState` with ``h`` ``(B, O)`` and ``c``
          ``(B, H)``; output: ``(B, O)``, where ``O = P`` with a projection, else ``H``.

    Example:
        >>> import torch
        >>> cell = LSTMCell(3, 4)
        >>> y, state = cell(torch.zeros(2, 3), cell.initial_state(2))
        >>> y.shape, state.c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
        >>> projected = LSTMCell(3, 4, proj_size=2)
        >>> y, state = projected(torch.zeros(2, 3), projected.initial_state(2))
        >>> y.shape, state.c.shape, projected.output_size
        (torch.Size([2, 2]), torch.Size([2, 4]), 2)
    """

    num_gates: ClassVar[int] = 4
    supports_projection: ClassVar[bool] = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        proj_size: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, proj_size=proj_size, generator=generator)

    @override
    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        check_step_input(self, x)
        check_lstm_state(state, x.size(0), self.output_size, self.hidden_size)
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        if self.weight_hr is None:
            h, c = torch.lstm_cell(x, (state.h, state.c), *self.fused_weights())
            return h, LSTMState(h, c)
        # torch.lstm_cell has no projection, so the equations are written out.
        gates = nn.functional.linear(x, self.weight_ih, self.bias_ih) + nn.functional.linear(
            state.h, self.weight_hh, self.bias_hh
        )  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        h = nn.functional.linear(torch.sigmoid(o) * torch.tanh(c), self.weight_hr)  # (B, P)
        return h, LSTMState(h, c)

    @override
    def final_output(self, state: LSTMState) -> Tensor:
        """``state.h``, the output."""
        return state.h

    @override
    def state_sizes(self) -> LSTMState:
        """``LSTMState(h=O, c=H)``: ``h`` has the output's size (``P`` with a projection)."""
        return LSTMState(self.output_size, self.hidden_size)  # type: ignore[arg-type]

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """Always ``"LSTM"``."""
        return "LSTM"
