"""The long short-term memory (LSTM) cell and its state."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor
from typing_extensions import final, override

from seqlearn.nn.cells.base import FusedMode, check_step_input
from seqlearn.nn.cells.gated import GatedCell

__all__ = ["LSTMCell", "LSTMState"]


class LSTMState(NamedTuple):
    """State of an :class:`LSTMCell`.

    Shape:
        - ``h``: ``(B, H)``, the hidden state (also the cell's output).
        - ``c``: ``(B, H)``, the memory cell.
    """

    h: Tensor
    c: Tensor


@final
class LSTMCell(GatedCell[LSTMState]):
    r"""Long short-term memory cell, with :class:`torch.nn.LSTMCell`'s equations and layout.

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad
        h_t = o_t \odot \tanh(c_t), \qquad y_t = h_t
        \end{aligned}

    Runs on :func:`torch.lstm` inside :class:`~seqlearn.nn.Recurrent`.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        generator: Random generator for the initial weights.

    Shape:
        - ``x``: ``(B, I)``; ``state``: :class:`LSTMState` of two ``(B, H)`` tensors;
          output: ``(B, H)``.

    Example:
        >>> import torch
        >>> cell = LSTMCell(3, 4)
        >>> y, state = cell(torch.zeros(2, 3), cell.initial_state(2))
        >>> y.shape, state.c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    num_gates: ClassVar[int] = 4

    @override
    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        check_step_input(self, x)
        h, c = torch.lstm_cell(x, (state.h, state.c), *self.fused_weights())
        return h, LSTMState(h, c)

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> LSTMState:
        return LSTMState(
            self._zeros(batch_size, device, dtype), self._zeros(batch_size, device, dtype)
        )

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """Always ``"LSTM"``."""
        return "LSTM"
