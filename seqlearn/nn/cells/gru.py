"""The gated recurrent unit (GRU) cell."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor
from typing_extensions import final, override

from seqlearn.nn.cells.base import FusedMode, check_step_input, check_step_state
from seqlearn.nn.cells.gated import GatedCell
from seqlearn.nn.registry import register

__all__ = ["GRUCell"]


@register("seqlearn.nn.GRUCell")
@final
class GRUCell(GatedCell[Tensor]):
    r"""Gated recurrent unit, with :class:`torch.nn.GRUCell`'s equations and weight layout.

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}, \qquad y_t = h_t
        \end{aligned}

    Runs on :func:`torch.gru` inside :class:`~seqlearn.nn.Recurrent`.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        generator: Random generator for the initial weights.

    Shape:
        - ``x``: ``(B, I)``; ``state``: ``(B, H)``; output: ``(B, H)``.

    Example:
        >>> import torch
        >>> cell = GRUCell(3, 4)
        >>> y, h = cell(torch.zeros(2, 3), cell.initial_state(2))
        >>> y.shape
        torch.Size([2, 4])
    """

    num_gates: ClassVar[int] = 3

    @override
    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        check_step_input(self, x)
        check_step_state("state", state, x.size(0), self.hidden_size)
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.gru_cell(x, state, *self.fused_weights())  # (B, H)
        return h, h

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """Always ``"GRU"``."""
        return "GRU"
