"""The independently recurrent neural network (IndRNN) cell (Li et al., 2018)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell, check_step_input, check_step_state, uniform_init_
from seqlearn.nn.registry import register

__all__ = ["IndRNNCell"]


@register("seqlearn.nn.IndRNNCell")
@final
class IndRNNCell(Cell[Tensor]):
    r"""IndRNN cell: each hidden unit sees only its own past, through one recurrent weight.

    .. math::
        h_t = \sigma\left(W x_t + u \odot h_{t-1} + b\right), \qquad y_t = h_t

    with :math:`\sigma` = ReLU (the paper's choice) or tanh, and :math:`u` a vector of ``H``
    recurrent weights (``weight_hh``), one per unit, instead of a matrix. With
    ``recurrent_max_abs`` = :math:`m`, the forward pass uses
    :math:`\operatorname{clamp}(u, -m, m)`, so :math:`|u_j| \le m`; the paper suggests
    :math:`m = 2^{1/T}` (ReLU) to keep gradients over ``T`` steps from exploding. The stored
    ``weight_hh`` is left as it is; entries beyond the bound get no gradient while clamped.

    Not a :class:`~seqlearn.nn.FusedCell`: :class:`~seqlearn.nn.Recurrent` runs it step by
    step.

    Args:
        input_size: Size ``I`` of ``x_t``.
        hidden_size: Size ``H`` of the state.
        nonlinearity: ``"relu"`` or ``"tanh"``.
        bias: Whether to add the bias ``b``.
        recurrent_max_abs: Bound ``m > 0`` on ``|u|`` applied in the forward pass; ``None``
            leaves ``u`` unbounded.
        generator: Random generator for the initial weights.

    Raises:
        ValueError: If a size is not positive, ``nonlinearity`` is unknown, or
            ``recurrent_max_abs`` is not a positive finite number.

    Shape:
        - ``x``: ``(B, I)``; ``state``: ``(B, H)``; output: ``(B, H)``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> cell = IndRNNCell(3, 4, recurrent_max_abs=1.0, generator=g)
        >>> y, h = cell(torch.randn(2, 3), cell.initial_state(2))
        >>> y.shape, cell.weight_hh.shape, bool((y == h).all()), bool((y >= 0).all())
        (torch.Size([2, 4]), torch.Size([4]), True, True)
    """

    weight_ih: nn.Parameter
    weight_hh: nn.Parameter
    bias: nn.Parameter | None
    nonlinearity: Literal["relu", "tanh"]
    recurrent_max_abs: float | None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: Literal["relu", "tanh"] = "relu",
        bias: bool = True,
        recurrent_max_abs: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size)
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(f"nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}")
        if recurrent_max_abs is not None and (
            isinstance(recurrent_max_abs, bool)
            or not isinstance(recurrent_max_abs, int | float)
            or not math.isfinite(recurrent_max_abs)
            or recurrent_max_abs <= 0
        ):
            raise ValueError(
                "recurrent_max_abs must be a positive finite number or None, "
                f"got {recurrent_max_abs!r}"
            )
        self.nonlinearity = nonlinearity
        self.recurrent_max_abs = None if recurrent_max_abs is None else float(recurrent_max_abs)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw ``W``, ``b`` from ``U(-1/sqrt(I), 1/sqrt(I))`` and ``u`` from ``U(0, 1)``.

        The input weights follow :class:`torch.nn.Linear`'s bounds; the recurrent weights
        start non-negative and below 1, so the initial recurrence neither flips signs nor
        grows (``recurrent_max_abs`` still clamps them in the forward pass).

        Args:
            generator: Random generator; ``None`` uses PyTorch's default.
        """
        tensors = [self.weight_ih] + ([self.bias] if self.bias is not None else [])
        uniform_init_(tensors, self.input_size, generator)
        with torch.no_grad():
            nn.init.uniform_(self.weight_hh, 0.0, 1.0, generator=generator)

    def recurrent_weight(self) -> Tensor:
        """The recurrent weights ``u`` as the forward pass uses them (clamped if bounded).

        Returns:
            A ``(H,)`` tensor.

        Example:
            >>> import torch
            >>> cell = IndRNNCell(3, 2, recurrent_max_abs=0.5)
            >>> with torch.no_grad():
            ...     _ = cell.weight_hh.copy_(torch.tensor([0.9, -0.2]))
            >>> cell.recurrent_weight().detach()  # 0.9 clamped to the bound
            tensor([ 0.5000, -0.2000])
        """
        if self.recurrent_max_abs is None:
            return self.weight_hh
        return self.weight_hh.clamp(-self.recurrent_max_abs, self.recurrent_max_abs)

    @override
    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        check_step_input(self, x)
        check_step_state("state", state, x.size(0), self.hidden_size)
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.step_projected(self.project_inputs(x), state)

    def project_inputs(self, x: Tensor) -> Tensor:
        """``W x + b`` for inputs ``(..., I)``; see
        :class:`~seqlearn.nn.cells.base.ProjectsInputs`.

        Args:
            x: Inputs ``(..., I)``.

        Returns:
            ``(..., H)``.
        """
        return nn.functional.linear(x, self.weight_ih, self.bias)

    def step_projected(self, projected: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step from ``project_inputs(x_t)`` ``(B, H)``: element-wise only.

        Args:
            projected: The projected input.
            state: ``h_{t-1}``, ``(B, H)``.

        Returns:
            The new hidden state, as output and as state.
        """
        pre = projected + self.recurrent_weight() * state
        h = torch.relu(pre) if self.nonlinearity == "relu" else torch.tanh(pre)  # (B, H)
        return h, h

    @override
    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, "
            f"bias={self.bias is not None}, recurrent_max_abs={self.recurrent_max_abs}"
        )
