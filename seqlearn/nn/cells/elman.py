"""The Elman cell, the plain recurrent network of the lecture, and its linear variant."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import (
    Cell,
    FusedCell,
    FusedMode,
    check_step_input,
    check_step_state,
    uniform_init_,
)
from seqlearn.nn.registry import register

__all__ = ["ElmanCell", "LinearRecurrentCell"]


class _OneMatrixCell(Cell[Tensor]):
    """What the Elman cells share: one weight ``(H, I + H)`` over ``[x_t; h_{t-1}]``, an
    optional bias, and a nonlinearity that subclasses choose (:meth:`_activate`)."""

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, generator: torch.Generator | None
    ) -> None:
        super().__init__(input_size, hidden_size)
        self.weight = nn.Parameter(torch.empty(hidden_size, input_size + hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters(generator)

    def _activate(self, pre: Tensor) -> Tensor:
        return pre

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw weights from ``U(-1/sqrt(I + H), 1/sqrt(I + H))`` like :class:`torch.nn.Linear`.

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        tensors = [self.weight] + ([self.bias] if self.bias is not None else [])
        uniform_init_(tensors, self.input_size + self.hidden_size, generator)

    @override
    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        check_step_input(self, x)
        check_step_state("state", state, x.size(0), self.hidden_size)
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self._activate(
            nn.functional.linear(torch.cat((x, state), dim=1), self.weight, self.bias)
        )
        return h, h  # (B, H)

    def project_inputs(self, x: Tensor) -> Tensor:
        """``W_x x + b`` for inputs ``(..., I)``: the input columns of ``weight``; see
        :class:`~seqlearn.nn.cells.base.ProjectsInputs`.

        Args:
            x: Inputs ``(..., I)``.

        Returns:
            ``(..., H)``.
        """
        return nn.functional.linear(x, self.weight[:, : self.input_size], self.bias)

    def step_projected(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step from ``project_inputs(x_t)`` ``(B, H)``; returns ``(h_t, h_t)``.

        Args:
            projected: The projected input.
            state: ``h_{t-1}``, ``(B, H)``.

        Returns:
            The new hidden state, as output and as state.
        """
        recurrent = nn.functional.linear(state, self.weight[:, self.input_size :])
        h = self._activate(projected + recurrent)
        return h, h


@register("seqlearn.nn.ElmanCell")
@final
class ElmanCell(_OneMatrixCell, FusedCell[Tensor]):
    r"""Elman recurrent cell with one weight matrix over ``[x_t; h_{t-1}]``.

    .. math::
        h_t = \sigma\left(W \begin{bmatrix} x_t \\ h_{t-1} \end{bmatrix} + b\right),
        \qquad y_t = h_t

    with :math:`\sigma` = ReLU (the lecture's choice) or tanh. ``weight`` has shape
    ``(H, I + H)`` exactly like the lecture's ``i2h`` layer, so the lecture's weights copy in
    unchanged; the first ``I`` columns act on the input and the last ``H`` on the state.
    Runs on :func:`torch.rnn_relu` / :func:`torch.rnn_tanh` inside
    :class:`~seqlearn.nn.Recurrent`.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: Whether to add the bias ``b``.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not positive or ``nonlinearity`` is unknown.

    Shape:
        - ``x``: ``(B, I)``; ``state``: ``(B, H)``; output: ``(B, H)``.

    Example:
        >>> import torch
        >>> cell = ElmanCell(3, 4, nonlinearity="relu")
        >>> y, h = cell(torch.zeros(2, 3), cell.initial_state(2))
        >>> y.shape, bool((y == h).all())
        (torch.Size([2, 4]), True)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, generator)

    @override
    def _activate(self, pre: Tensor) -> Tensor:
        return torch.relu(pre) if self.nonlinearity == "relu" else torch.tanh(pre)

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """``"RNN_RELU"`` or ``"RNN_TANH"``, following ``nonlinearity``."""
        return "RNN_RELU" if self.nonlinearity == "relu" else "RNN_TANH"

    @override
    def fused_weights(self) -> list[Tensor]:
        w_ih = self.weight[:, : self.input_size]
        w_hh = self.weight[:, self.input_size :]
        b_ih = self.bias if self.bias is not None else w_ih.new_zeros(self.hidden_size)
        return [w_ih, w_hh, b_ih, torch.zeros_like(b_ih)]

    @override
    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"bias={self.bias is not None}"
        )


@register("seqlearn.nn.LinearRecurrentCell")
@final
class LinearRecurrentCell(_OneMatrixCell):
    r"""The Elman cell with no nonlinearity: the lecture classifier's ``i2h``.

    .. math::
        h_t = W \begin{bmatrix} x_t \\ h_{t-1} \end{bmatrix} + b, \qquad y_t = h_t

    ``weight`` has shape ``(H, I + H)`` like :class:`ElmanCell`'s (and the lecture's
    ``i2h.weight``), so weights copy in unchanged, and the two share their code. No fused
    kernel has an identity nonlinearity, so :class:`~seqlearn.nn.Recurrent` runs it step by
    step, with the input products hoisted out of the loop.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not a positive int.

    Shape:
        - ``x``: ``(B, I)``; ``state``: ``(B, H)``; output: ``(B, H)``.

    Example:
        >>> cell = LinearRecurrentCell(3, 4)
        >>> y, h = cell(torch.zeros(2, 3), cell.initial_state(2))
        >>> bool((y == cell.bias).all())
        True
    """

    def __init__(
        self, input_size: int, hidden_size: int, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(input_size, hidden_size, True, generator)

    @override
    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
