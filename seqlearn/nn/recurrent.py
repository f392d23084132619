"""Running a cell over time: the recurrent layer over padded variable-length batches."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell, FusedCell
from seqlearn.nn.cells.initial import LearnedInitialState
from seqlearn.nn.cells.lstm import LSTMState
from seqlearn.nn.cells.stack import StackedCell
from seqlearn.nn.state import map_state, where_rows

__all__ = ["Recurrent", "check_lengths"]

StateT = TypeVar("StateT")


def check_lengths(lengths: Tensor, batch_size: int, max_length: int) -> Tensor:
    """Check a ``(B,)`` tensor of sequence lengths and return it as int64.

    Args:
        lengths: Length of each sequence.
        batch_size: Expected ``B``.
        max_length: Size ``T`` of the time axis; no length may exceed it.

    Returns:
        ``lengths`` as an int64 tensor.

    Raises:
        TypeError: If ``lengths`` is not an integer tensor.
        ValueError: If its shape is not ``(B,)`` or a length is negative or above ``T``.
    """
    if (
        not isinstance(lengths, Tensor)
        or lengths.is_floating_point()
        or lengths.is_complex()
        or lengths.dtype == torch.bool
    ):
        raise TypeError(f"lengths must be an integer tensor, got {lengths!r}")
    if lengths.shape != (batch_size,):
        raise ValueError(f"expected lengths of shape ({batch_size},), got {tuple(lengths.shape)}")
    if batch_size and (int(lengths.min()) < 0 or int(lengths.max()) > max_length):
        raise ValueError(
            f"lengths must lie in [0, {max_length}] (the time axis of the input), "
            f"got values from {int(lengths.min())} to {int(lengths.max())}"
        )
    return lengths.long()


@final
class Recurrent(nn.Module, Generic[StateT]):
    """Runs a cell (or a stack of cells) over a batch of padded sequences.

    Each sequence's state is frozen after its last valid step, so the returned state is
    each sequence's last valid state, and outputs past a sequence's end are zeros. Results
    over a padded batch equal running each sequence alone.

    Which path runs: :class:`~seqlearn.nn.ElmanCell`, :class:`~seqlearn.nn.GRUCell` and
    :class:`~seqlearn.nn.LSTMCell`, alone or stacked in a :class:`~seqlearn.nn.StackedCell`,
    run on torch.nn's fused kernels (packed sequences for uneven lengths), including an
    LSTM with a projection and a stack with residual connections; every other cell runs a
    step-by-step loop. A :class:`~seqlearn.nn.LearnedInitialState` wrapper (around the cell
    or around cells of a stack) only supplies the initial state, so it does not change the
    path. Both paths give the same numbers; ``fused=False`` forces the loop.

    Args:
        cell: The cell to run.
        fused: Whether to use fused kernels when the cell allows it.

    Shape:
        - ``x``: ``(B, T, I)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - outputs: ``(B, T, O)`` with ``O = cell.output_size``; the final state has the
          structure of ``cell.initial_state(B)``.

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell
        >>> layer = Recurrent(GRUCell(3, 5))
        >>> outputs, state = layer(torch.randn(2, 4, 3), torch.tensor([4, 2]))
        >>> outputs.shape, state.shape
        (torch.Size([2, 4, 5]), torch.Size([2, 5]))
        >>> bool(outputs[1, 2:].eq(0).all())
        True
    """

    def __init__(self, cell: Cell[StateT], *, fused: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a seqlearn Cell, got {type(cell).__name__}")
        self.cell = cell
        self.fused = fused

    @property
    def uses_fused_kernels(self) -> bool:
        """Whether :meth:`forward` runs torch.nn's fused kernels for this cell."""
        return self.fused and all(isinstance(unit, FusedCell) for unit in self._units())

    def _core(self) -> Cell[Any]:
        """The cell without a learned-initial-state wrapper (whose state is already in hand)."""
        return _unwrap(self.cell)

    def _units(self) -> list[Cell[Any]]:
        core = self._core()
        if isinstance(core, StackedCell):
            return [_unwrap(layer) for layer in core.layers]
        return [core]

    @override
    def forward(
        self, x: Tensor, lengths: Tensor | None = None, initial_state: StateT | None = None
    ) -> tuple[Tensor, StateT]:
        """Run the cell over ``x``.

        Args:
            x: Padded input batch.
            lengths: Valid length of each sequence; ``None`` means all are ``T`` long.
            initial_state: State before the first step; defaults to
                ``cell.initial_state(B)``.

        Returns:
            The outputs at every step (zeros past each sequence's end) and the last valid
            state of each sequence.

        Raises:
            ValueError: If ``x`` is not ``(B, T, I)`` or ``lengths`` does not fit it.
            TypeError: If ``x`` is not floating point or ``lengths`` not integer.
        """
        if x.dim() != 3 or x.size(2) != self.cell.input_size:
            raise ValueError(
                f"expected input of shape (B, T, {self.cell.input_size}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"expected a floating point input, got dtype {x.dtype}")
        batch_size, steps = x.shape[:2]
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps).to(x.device)
        state = (
            self.cell.initial_state(batch_size, device=x.device, dtype=x.dtype)
            if initial_state is None
            else initial_state
        )
        if self.uses_fused_kernels and steps > 0 and batch_size > 0:
            return self._forward_fused(x, lengths, state)
        return self._forward_steps(x, lengths, state)

    def _forward_steps(
        self, x: Tensor, lengths: Tensor | None, state: StateT
    ) -> tuple[Tensor, StateT]:
        batch_size, steps = x.shape[:2]
        outputs = []
        for t in range(steps):
            y, new_state = self.cell(x[:, t], state)  # (B, O)
            if lengths is None:
                state = new_state
            else:
                active = lengths > t  # (B,)
                state = where_rows(active, new_state, state)
                y = y * active.unsqueeze(1).to(y.dtype)
            outputs.append(y)
        if not outputs:
            return x.new_zeros(batch_size, 0, self.cell.output_size), state
        return torch.stack(outputs, dim=1), state  # (B, T, O)

    def _forward_fused(
        self, x: Tensor, lengths: Tensor | None, state: StateT
    ) -> tuple[Tensor, StateT]:
        core = self._core()
        stack = core if isinstance(core, StackedCell) else None
        states = [state] if stack is None else list(cast(tuple[Any, ...], state))
        dropout = 0.0 if stack is None else stack.dropout
        residual = stack is not None and stack.residual
        finals = []
        for depth, (unit, unit_state) in enumerate(zip(self._units(), states)):
            if depth > 0:  # the stack's own mode decides, as on the step-by-step path
                x = nn.functional.dropout(x, dropout, core.training)
            y, final = _run_fused(cast(FusedCell[Any], unit), x, lengths, unit_state, self.training)
            # x and y are both zero past each sequence's end, so their sum is too
            x = y + x if residual and depth > 0 else y  # (B, T, O)
            finals.append(final)
        if stack is not None:
            return x, cast(StateT, tuple(finals))
        return x, cast(StateT, finals[0])


def _unwrap(cell: Cell[Any]) -> Cell[Any]:
    """``cell`` without any :class:`LearnedInitialState` wrappers around it."""
    while isinstance(cell, LearnedInitialState):
        cell = cell.cell
    return cell


def _run_fused(
    cell: FusedCell[Any], x: Tensor, lengths: Tensor | None, state: Any, training: bool
) -> tuple[Tensor, Any]:
    """Run one fused cell over a padded batch via a packed sequence; see :class:`Recurrent`."""
    batch_size, steps = x.shape[:2]
    if lengths is None:
        lengths = torch.full((batch_size,), steps, dtype=torch.long)
    packed = pack_padded_sequence(
        x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    order, restore = packed.sorted_indices, packed.unsorted_indices
    assert order is not None and restore is not None  # enforce_sorted=False sets both
    sorted_state = map_state(lambda t: t.index_select(0, order), state)
    data, final = _call_kernel(cell, packed.data, packed.batch_sizes, sorted_state, training)
    outputs, _ = pad_packed_sequence(
        packed._replace(data=data), batch_first=True, total_length=steps
    )  # (B, T, H), rows back in the caller's order
    final = map_state(lambda t: t.index_select(0, restore), final)
    empty = lengths == 0
    if bool(empty.any()):  # a zero-length row keeps its initial state and has no outputs
        final = where_rows(~empty.to(x.device), final, state)
        outputs = outputs * (~empty).to(outputs.dtype).view(-1, 1, 1).to(x.device)
    return outputs, final


def _call_kernel(
    cell: FusedCell[Any], data: Tensor, batch_sizes: Tensor, state: Any, training: bool
) -> tuple[Tensor, Any]:
    """Call the torch kernel of ``cell`` on packed data; returns output data and final state.

    For an LSTM with a projection, ``params`` ends with ``weight_hr`` and ``h0`` is
    ``(B, P)`` while ``c0`` is ``(B, H)``; :func:`torch.lstm` tells the two layouts apart by
    those sizes, which is why :class:`~seqlearn.nn.LSTMCell` requires ``P < H``.
    """
    params = cell.fused_weights()
    mode = cell.fused_mode
    if mode == "LSTM":
        h0, c0 = state  # (B, O), (B, H); O = P with a projection, else H
        out, h, c = torch.lstm(
            data,
            batch_sizes,
            [h0.unsqueeze(0), c0.unsqueeze(0)],
            params,
            True,
            1,
            0.0,
            training,
            False,
        )
        return out, LSTMState(h.squeeze(0), c.squeeze(0))
    hx = cast(Tensor, state).unsqueeze(0)
    if mode == "GRU":
        out, h = torch.gru(data, batch_sizes, hx, params, True, 1, 0.0, training, False)
    elif mode == "RNN_RELU":
        out, h = torch.rnn_relu(data, batch_sizes, hx, params, True, 1, 0.0, training, False)
    else:
        out, h = torch.rnn_tanh(data, batch_sizes, hx, params, True, 1, 0.0, training, False)
    return out, h.squeeze(0)
