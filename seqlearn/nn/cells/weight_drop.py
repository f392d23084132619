"""Weight-drop (DropConnect on the recurrent weight) around a fused cell."""

from __future__ import annotations

from typing import Generic, TypeVar

import torch
from torch import Tensor
from typing_extensions import final, override

from seqlearn.nn.cells.base import FusedCell, FusedMode, StateSizes, check_step_input
from seqlearn.nn.cells.fused import FusedLayer, call_kernel
from seqlearn.nn.registry import register
from seqlearn.nn.state import state_leaves

__all__ = ["WeightDrop"]

StateT = TypeVar("StateT")


@register("seqlearn.nn.WeightDrop")
@final
class WeightDrop(FusedCell[StateT], Generic[StateT]):
    r"""A fused cell whose hidden-to-hidden weight is dropped out (DropConnect), as in
    AWD-LSTM: one mask per run over a batch, the same at every time step.

    In training mode, each run over a batch draws a mask :math:`M` with entries
    :math:`\mathrm{Bernoulli}(1 - p)` of the shape of ``W_hh`` and runs the wrapped cell
    with

    .. math::
        \tilde W_{hh} = \frac{M \odot W_{hh}}{1 - p}

    in place of :math:`W_{hh}`; the other weights are the cell's own. The masked weight is
    one contiguous tensor handed to torch's kernel, so :class:`~seqlearn.nn.Recurrent`
    (and a :class:`~seqlearn.nn.StackedCell` or :class:`~seqlearn.nn.Bidirectional` of
    such cells) still runs one :func:`torch.gru` / :func:`torch.lstm` / ``torch.rnn_*``
    call. A new mask is drawn each time the whole-sequence weights are taken
    (:meth:`fused_weights`, once per kernel call) and at the start of a step-by-step
    :meth:`run`; :meth:`step` reuses the last mask (drawing one if there is none), so all
    steps of one sequence run share it (so, in training mode, asking for the fused weights,
    as :attr:`Recurrent.uses_fused_kernels <seqlearn.nn.Recurrent.uses_fused_kernels>`
    does, draws a mask too). In evaluation mode the cell is the wrapped cell: its weights,
    its step, no draw.

    Args:
        cell: The fused cell to wrap (:class:`~seqlearn.nn.ElmanCell`,
            :class:`~seqlearn.nn.GRUCell`, :class:`~seqlearn.nn.LSTMCell`, or your own).
        p: Probability of dropping each entry of ``W_hh``.
        generator: Random generator for the masks; ``None`` uses PyTorch's default.

    Raises:
        TypeError: If ``cell`` is not a :class:`~seqlearn.nn.FusedCell`.
        ValueError: If ``p`` is outside ``[0, 1)``.

    Shape:
        As the wrapped cell: ``x`` ``(B, I)``, output ``(B, O)``, its state.

    Example:
        >>> import torch
        >>> from seqlearn.nn import LSTMCell, Recurrent
        >>> layer = Recurrent(WeightDrop(LSTMCell(3, 4), p=0.5))
        >>> layer.uses_fused_kernels  # still one torch.lstm call per batch
        True
        >>> outputs, state = layer(torch.randn(2, 5, 3), torch.tensor([5, 3]))
        >>> outputs.shape
        torch.Size([2, 5, 4])
        >>> x = torch.ones(1, 2, 3)
        >>> layer.eval()(x)[0].equal(Recurrent(layer.cell.cell)(x)[0])  # eval: no mask
        True
    """

    def __init__(
        self, cell: FusedCell[StateT], p: float, *, generator: torch.Generator | None = None
    ) -> None:
        if not isinstance(cell, FusedCell):
            raise TypeError(
                f"cell must be a FusedCell (such as GRUCell or LSTMCell), got {type(cell).__name__}"
            )
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"p must be a float in [0, 1), got {p!r}")
        super().__init__(cell.input_size, cell.hidden_size, cell.output_size)
        self.cell = cell
        self.p = float(p)
        self.generator = generator
        self._mask: Tensor | None = None

    @property
    @override
    def fused_mode(self) -> FusedMode:
        """The wrapped cell's kernel."""
        return self.cell.fused_mode

    def resample(self) -> Tensor:
        """Draw a new mask for ``W_hh`` (scaled by ``1 / (1 - p)``) and keep it for
        :meth:`step`.

        Returns:
            The mask, of the shape of ``W_hh``: ``(G * H, R)``.
        """
        w_hh = self.cell.fused_weights()[1]
        keep = torch.empty_like(w_hh, memory_format=torch.contiguous_format)
        keep.bernoulli_(1.0 - self.p, generator=self.generator)
        self._mask = keep.div_(1.0 - self.p)
        return self._mask

    @property
    def mask(self) -> Tensor | None:
        """The mask in use (already scaled by ``1 / (1 - p)``), or ``None`` before the
        first draw."""
        return self._mask

    def _weights(self, *, draw: bool) -> list[Tensor]:
        weights = self.cell.fused_weights()
        if not self.training or self.p == 0.0:
            return weights
        mask = self._mask
        if draw or mask is None or mask.shape != weights[1].shape:
            mask = self.resample()
        masked = weights[1] * mask  # (G*H, R), contiguous
        return [weights[0], masked, *weights[2:]]

    @override
    def fused_weights(self) -> list[Tensor]:
        """The wrapped cell's weights with ``W_hh`` masked (in training mode: a new mask)."""
        return self._weights(draw=True)

    @override
    def run(
        self, data: Tensor, batch_sizes: Tensor, state: StateT, *, fused: bool = True
    ) -> tuple[Tensor, StateT]:
        """Run over a packed sequence with one mask (see :meth:`Cell.run
        <seqlearn.nn.Cell.run>`): one kernel call, or steps that share the mask.

        Args:
            data: The packed inputs, ``(N, I)``.
            batch_sizes: Rows running at each step, ``(T,)``, on the CPU.
            state: The state of every row, rows longest first.
            fused: Whether torch's fused kernels may run.

        Returns:
            The packed outputs and each row's final state.
        """
        if not fused and self.training and self.p > 0.0:
            self.resample()
        return super().run(data, batch_sizes, state, fused=fused)

    @override
    def forward(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        check_step_input(self, x)
        expected = self.cell.initial_state(x.size(0), device=x.device, dtype=x.dtype)
        have = [tuple(t.shape) for t in state_leaves(state)]
        want = [tuple(t.shape) for t in state_leaves(expected)]
        if have != want:
            raise ValueError(f"expected state tensors of shapes {want}, got {have}")
        return self.step(x, state)

    @override
    def step(self, x: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """One step on the kernel, with the current mask (unchecked); in evaluation mode,
        the wrapped cell's own step."""
        if not self.training or self.p == 0.0:
            return self.cell.step(x, state)
        layer = FusedLayer(self.fused_mode, self._weights(draw=False))
        sizes = torch.tensor([x.size(0)], dtype=torch.long)  # one step, every row, on the CPU
        out, finals = call_kernel([layer], x, sizes, [state])
        return out, finals[0]

    @override
    def final_output(self, state: StateT) -> Tensor:
        """The wrapped cell's output for ``state``."""
        return self.cell.final_output(state)

    @override
    def state_sizes(self) -> StateSizes:
        """The wrapped cell's state."""
        return self.cell.state_sizes()

    @override
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StateT:
        """The wrapped cell's initial state."""
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    @override
    def extra_repr(self) -> str:
        return f"p={self.p}"
