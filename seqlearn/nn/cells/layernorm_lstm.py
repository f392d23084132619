"""The layer-normalised LSTM cell (Ba, Kiros and Hinton, 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell, check_step_input, uniform_init_
from seqlearn.nn.cells.lstm import LSTMState, check_lstm_state
from seqlearn.nn.registry import register

__all__ = ["LayerNormLSTMCell"]


@register("seqlearn.nn.LayerNormLSTMCell")
@final
class LayerNormLSTMCell(Cell[LSTMState]):
    r"""LSTM cell with layer normalisation of the gate pre-activations and the memory.

    .. math::
        \begin{aligned}
        \begin{bmatrix} a^i_t \\ a^f_t \\ a^g_t \\ a^o_t \end{bmatrix}
            &= \mathrm{LN}_{ih}(W_{ih} x_t) + \mathrm{LN}_{hh}(W_{hh} h_{t-1}) + b \\
        i_t &= \sigma(a^i_t), \quad f_t = \sigma(a^f_t), \quad
            g_t = \tanh(a^g_t), \quad o_t = \sigma(a^o_t) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t, \qquad
        h_t = o_t \odot \tanh(\mathrm{LN}_c(c_t)), \qquad y_t = h_t
        \end{aligned}

    where :math:`\mathrm{LN}(v) = \gamma \odot (v - \mu(v)) / \sqrt{\mathrm{Var}(v) + \epsilon}
    + \beta` normalises over the features of one example, with its own learnable gain
    :math:`\gamma` and bias :math:`\beta`. ``norm_ih`` and ``norm_hh`` normalise all ``4H``
    gate pre-activations together (gates in torch.nn's order ``i, f, g, o``); ``norm_c``
    normalises the ``H`` memory cells before the output tanh, while the carried state
    :math:`c_t` itself stays unnormalised. Each sequence's step depends only on its own
    row, so padding and batch size never change the results.

    Not a :class:`~seqlearn.nn.FusedCell`: :class:`~seqlearn.nn.Recurrent` runs it step by
    step.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not a positive int.

    Shape:
        - ``x``: ``(B, I)``; ``state``: :class:`~seqlearn.nn.LSTMState` of two ``(B, H)``
          tensors; output: ``(B, H)``.

    Example:
        >>> import torch
        >>> cell = LayerNormLSTMCell(3, 4, generator=torch.Generator().manual_seed(0))
        >>> y, state = cell(torch.randn(2, 3), cell.initial_state(2))
        >>> y.shape, state.c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
        >>> bool((y == state.h).all())
        True
    """

    weight_ih: nn.Parameter
    weight_hh: nn.Parameter
    bias: nn.Parameter
    norm_ih: nn.LayerNorm
    norm_hh: nn.LayerNorm
    norm_c: nn.LayerNorm

    def __init__(
        self, input_size: int, hidden_size: int, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(input_size, hidden_size)
        rows = 4 * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias = nn.Parameter(torch.empty(rows))
        self.norm_ih = nn.LayerNorm(rows)
        self.norm_hh = nn.LayerNorm(rows)
        self.norm_c = nn.LayerNorm(hidden_size)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw ``weight_ih``, ``weight_hh`` and ``bias`` from ``U(-1/sqrt(H), 1/sqrt(H))``.

        As :class:`torch.nn.LSTMCell` does; the layer norms restart at gain 1 and bias 0.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        uniform_init_([self.weight_ih, self.weight_hh, self.bias], self.hidden_size, generator)
        for norm in (self.norm_ih, self.norm_hh, self.norm_c):
            norm.reset_parameters()

    @override
    def forward(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        check_step_input(self, x)
        check_lstm_state(state, x.size(0), self.hidden_size, self.hidden_size)
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        return self.step_projected(self.project_inputs(x), state)

    def project_inputs(self, x: Tensor) -> Tensor:
        """``LN_ih(W_ih x) + b`` for inputs ``(..., I)``; see
        :class:`~seqlearn.nn.cells.base.ProjectsInputs`.

        Args:
            x: Inputs ``(..., I)``.

        Returns:
            ``(..., 4H)``.
        """
        projected: Tensor = self.norm_ih(nn.functional.linear(x, self.weight_ih))
        return projected + self.bias

    def step_projected(self, projected: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        """One step from ``project_inputs(x_t)`` ``(B, 4H)``.

        Args:
            projected: The projected input.
            state: ``(h_{t-1}, c_{t-1})``.

        Returns:
            ``h_t`` and the new state.
        """
        gates = projected + self.norm_hh(nn.functional.linear(state.h, self.weight_hh))  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.norm_c(c))
        return h, LSTMState(h, c)

    @override
    def final_output(self, state: LSTMState) -> Tensor:
        """``state.h``, the output."""
        return state.h

    @override
    def state_sizes(self) -> LSTMState:
        """``LSTMState(h=H, c=H)``."""
        return LSTMState(self.hidden_size, self.hidden_size)  # type: ignore[arg-type]

    @override
    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
