"""The long short-term memory (LSTM) cell and its state."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import FusedCell, FusedMode, check_step_input, uniform_init_

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
class LSTMCell(FusedCell[LSTMState]):
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

    def __init__(
        self, input_size: int, hidden_size: int, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every weight from ``U(-1/sqrt(H), 1/sqrt(H))`` like :class:`torch.nn.LSTM`.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        uniform_init_(self.fused_weights(), self.hidden_size, generator)

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
        device, dtype = self._like_parameters(device, dtype)
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return LSTMState(zeros, zeros.clone())

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """Always ``"LSTM"``."""
        return "LSTM"

    @override
    def fused_weights(self) -> list[Tensor]:
        return [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]

    @override
    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
