"""Running a cell over time: the recurrent layer over padded variable-length batches."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell, FusedCell, ProjectsInputs
from seqlearn.nn.cells.initial import LearnedInitialState
from seqlearn.nn.cells.lstm import LSTMState
from seqlearn.nn.cells.stack import StackedCell
from seqlearn.nn.registry import register
from seqlearn.nn.state import (
    map_state,
    rebuild_state,
    state_leaves,
    where_rows,
)
from seqlearn.nn.steps import shrinking_steps

__all__ = ["Recurrent", "check_lengths"]

StateT = TypeVar("StateT")


def _is_exporting() -> bool:
    """``torch.compiler.is_exporting()``; torch < 2.7 lacks it (and cannot export to ONNX)."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return is_exporting is not None and bool(is_exporting())


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

    Inside :func:`torch.compile` and :func:`torch.export.export` the values are not checked
    (that would need them on the host); eager calls check them.
    """
    if torch.compiler.is_compiling():
        return lengths.long()
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


@register("seqlearn.nn.Recurrent")
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
    step-by-step loop (in a stack mixing both, each cell takes its own path). A
    :class:`~seqlearn.nn.LearnedInitialState` wrapper (around the cell or around cells of a
    stack) only supplies the initial state, so it does not change the path. Both paths give
    the same numbers; ``fused=False`` forces the loop.

    Either way the batch is packed once (longest rows first; an already sorted batch is not
    reordered), every cell of a stack runs over the packed data in turn, and the outputs
    are unpacked once. The loop steps only the rows still running at each step, and hoists
    the input products of cells that implement
    :class:`~seqlearn.nn.cells.base.ProjectsInputs` out of the loop.

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
        """Whether :meth:`forward` runs torch.nn's fused kernels for this cell.

        Example:
            >>> from seqlearn.nn import GRUCell, LayerNormLSTMCell
            >>> Recurrent(GRUCell(3, 4)).uses_fused_kernels
            True
            >>> Recurrent(GRUCell(3, 4), fused=False).uses_fused_kernels
            False
            >>> Recurrent(LayerNormLSTMCell(3, 4)).uses_fused_kernels  # runs the step loop
            False
        """
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
            ValueError: If ``x`` is not ``(B, T, I)``, ``lengths`` does not fit it, or a
                tensor of ``initial_state`` has another shape than in
                ``cell.initial_state(B)``.
            TypeError: If ``x`` is not a floating point tensor, or (outside autocast) its
                dtype differs from the cell's parameters'; if ``lengths`` is not an integer
                tensor, or ``initial_state`` does not have the structure of
                ``cell.initial_state(B)``.
        """
        if _is_exporting():
            return self._run_exported(x, lengths, initial_state)
        if not isinstance(x, Tensor):
            raise TypeError(
                f"expected input of shape (B, T, {self.cell.input_size}) as a tensor, "
                f"got {type(x).__name__}"
            )
        if x.dim() != 3 or x.size(2) != self.cell.input_size:
            raise ValueError(
                f"expected input of shape (B, T, {self.cell.input_size}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(f"expected a floating point input, got dtype {x.dtype}")
        weight = next(self.cell.parameters(), None)
        if (
            weight is not None
            and weight.is_floating_point()
            and x.dtype != weight.dtype
            and not torch.is_autocast_enabled(x.device.type)
        ):
            raise TypeError(
                f"expected input of dtype {weight.dtype} (the cell's parameters), got {x.dtype}"
            )
        batch_size, steps = x.shape[:2]
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps).to(x.device)
        expected = self.cell.initial_state(batch_size, device=x.device, dtype=x.dtype)
        if initial_state is None:
            state = expected
        else:
            _check_state("initial_state", initial_state, expected)
            state = initial_state
        if steps == 0 or batch_size == 0:
            return x.new_zeros(batch_size, steps, self.cell.output_size), state
        return self._run_packed(x, lengths, state)

    def _run_exported(
        self, x: Tensor, lengths: Tensor | None, initial_state: StateT | None
    ) -> tuple[Tensor, StateT]:
        """The path :func:`torch.export.export` traces (for ONNX): the cell's steps over the
        padded batch as one scan over time, each row's state frozen past its end.

        The same numbers as the other paths, with the batch and time sizes left symbolic
        (an ONNX ``Scan``); slower, and only taken while exporting.
        """
        from torch._higher_order_ops.scan import scan  # a loop export keeps symbolic

        batch_size, steps = x.shape[:2]
        if initial_state is None:  # one row expanded: initial_state(B) would fix B
            one = self.cell.initial_state(1, device=x.device, dtype=x.dtype)
            initial_state = map_state(lambda t: t.expand(batch_size, *t.shape[1:]), one)
        state = initial_state
        time = torch.arange(steps, device=x.device).unsqueeze(1)  # (T, 1)
        if lengths is None:
            lengths = torch.full((batch_size,), steps, dtype=torch.long, device=x.device)
        valid = time < lengths.unsqueeze(0)  # (T, B)

        def step(leaves: list[Tensor], inputs: tuple[Tensor, Tensor]) -> tuple[Any, Tensor]:
            x_t, keep = inputs  # (B, I), (B,)
            before = rebuild_state(state, leaves)
            y, after = self.cell(x_t, before)  # (B, O)
            merged = where_rows(keep, after, before)
            return state_leaves(merged), torch.where(keep.unsqueeze(1), y, 0.0)

        leaves = [t.contiguous() for t in state_leaves(state)]
        final, outputs = scan(step, leaves, (x.transpose(0, 1), valid))  # outputs (T, B, O)
        return outputs.transpose(0, 1), rebuild_state(state, final)

    def _run_packed(
        self, x: Tensor, lengths: Tensor | None, state: StateT
    ) -> tuple[Tensor, StateT]:
        """Pack once, run each cell of the stack on the packed data, unpack once."""
        core = self._core()
        stack = core if isinstance(core, StackedCell) else None
        units = self._units()
        states = [state] if stack is None else list(cast(tuple[Any, ...], state))
        packed = _Packing(x, lengths)
        data, sorted_states = packed.data, [packed.sort(s) for s in states]
        dropout = 0.0 if stack is None or not core.training else stack.dropout
        residual = stack is not None and stack.residual
        fused = [unit for unit in units if isinstance(unit, FusedCell)] if self.fused else []
        if stack is not None and len(fused) == len(units) and _one_kernel_call(fused, residual):
            data, sorted_finals = _call_kernel(
                fused, data, packed.batch_sizes, sorted_states, dropout, self.training
            )
        else:
            sorted_finals = []
            for depth, (unit, unit_state) in enumerate(zip(units, sorted_states)):
                inputs = data
                if depth > 0 and dropout > 0:  # between stacked cells, as StackedCell does
                    inputs = nn.functional.dropout(inputs, dropout, training=True)
                if self.fused and isinstance(unit, FusedCell):
                    out, (final,) = _call_kernel(
                        [unit], inputs, packed.batch_sizes, [unit_state], 0.0, self.training
                    )
                else:
                    out, final = _run_steps(unit, inputs, packed.batch_sizes, unit_state)
                data = out + inputs if residual and depth > 0 else out  # packed, (N, O)
                sorted_finals.append(final)
        outputs = packed.unpack(data)  # (B, T, O)
        finals = [packed.finish(f, s) for f, s in zip(sorted_finals, states)]
        if packed.empty is not None:  # zero-length rows have no outputs
            outputs = outputs * (~packed.empty).to(outputs.dtype).view(-1, 1, 1)
        if stack is not None:
            return outputs, cast(StateT, tuple(finals))
        return outputs, cast(StateT, finals[0])


def _check_state(where: str, given: object, expected: object) -> None:
    """Raise unless ``given`` has the structure and tensor shapes of ``expected``."""
    if isinstance(expected, Tensor):
        if not isinstance(given, Tensor):
            raise TypeError(
                f"expected {where} as a tensor of shape {tuple(expected.shape)}, "
                f"got {type(given).__name__}"
            )
        if given.shape != expected.shape:
            raise ValueError(
                f"expected {where} of shape {tuple(expected.shape)}, got {tuple(given.shape)}"
            )
        return
    items = cast(tuple[Any, ...], expected)
    kind = type(items)
    if not isinstance(given, kind) or len(given) != len(items):
        raise TypeError(
            f"expected {where} with the structure of cell.initial_state(B) "
            f"({kind.__name__} of {len(items)} items), got {type(given).__name__}"
        )
    names = getattr(kind, "_fields", None)
    for index, (item, reference) in enumerate(zip(given, items)):
        part = f"{where}.{names[index]}" if names else f"{where}[{index}]"
        _check_state(part, item, reference)


def _unwrap(cell: Cell[Any]) -> Cell[Any]:
    """``cell`` without any :class:`LearnedInitialState` wrappers around it."""
    while isinstance(cell, LearnedInitialState):
        cell = cell.cell
    return cell


def _run_steps(
    cell: Cell[Any], data: Tensor, batch_sizes: Tensor, state: Any
) -> tuple[Tensor, Any]:
    """The step-by-step loop of one cell over packed data; returns output data, final state.

    Rows are sorted longest first, so step ``t`` runs only the first ``batch_sizes[t]``
    rows (:func:`~seqlearn.nn.steps.shrinking_steps`). A cell implementing
    :class:`~seqlearn.nn.cells.base.ProjectsInputs` projects the inputs of all steps in
    one product before the loop.
    """
    step: Any = cell
    if isinstance(cell, ProjectsInputs):
        data, step = cell.project_inputs(data), cell.step_projected  # (N, K)
    outputs, state = shrinking_steps(step, torch.split(data, batch_sizes.tolist()), state)
    return torch.cat(outputs), state


class _Packing:
    """A padded batch packed for torch's kernels, and the way back to the caller's order.

    Lengths already sorted in descending order (as a length-bucketing sampler gives them)
    are packed as they are, with no reordering of rows; otherwise rows are sorted here and
    restored after. Zero-length rows run as length 1 and are reset by :meth:`finish`.
    """

    def __init__(self, x: Tensor, lengths: Tensor | None) -> None:
        batch_size, self.steps = x.shape[:2]
        if lengths is None:
            lengths = torch.full((batch_size,), self.steps, dtype=torch.long)
        host = lengths.cpu()  # torch's packing wants lengths on the CPU
        is_empty = host == 0
        self.empty = is_empty.to(x.device) if bool(is_empty.any()) else None
        descending = bool((host[:-1] >= host[1:]).all())
        packed = pack_padded_sequence(
            x, host.clamp(min=1), batch_first=True, enforce_sorted=descending
        )
        self.packed = packed
        self.data, self.batch_sizes = packed.data, packed.batch_sizes

    def sort(self, state: Any) -> Any:
        """``state`` with its rows in the packed order."""
        order = self.packed.sorted_indices
        return state if order is None else map_state(lambda t: t.index_select(0, order), state)

    def unpack(self, data: Tensor) -> Tensor:
        """Packed output data as a padded ``(B, T, O)`` batch in the caller's row order."""
        outputs, _ = pad_packed_sequence(
            self.packed._replace(data=data), batch_first=True, total_length=self.steps
        )
        return outputs

    def finish(self, final: Any, initial: Any) -> Any:
        """A final state back in the caller's row order; zero-length rows keep ``initial``."""
        restore = self.packed.unsorted_indices
        if restore is not None:
            final = map_state(lambda t: t.index_select(0, restore), final)
        return final if self.empty is None else where_rows(~self.empty, final, initial)


def _one_kernel_call(units: list[FusedCell[Any]], residual: bool) -> bool:
    """Whether a stack can run as one multi-layer kernel call, as torch.nn's modules do."""
    first = units[0]
    return not residual and all(
        unit.fused_mode == first.fused_mode
        and unit.hidden_size == first.hidden_size
        and len(unit.fused_weights()) == 4  # no LSTM projection
        for unit in units
    )


def _call_kernel(
    units: list[FusedCell[Any]],
    data: Tensor,
    batch_sizes: Tensor,
    states: list[Any],
    dropout: float,
    training: bool,
) -> tuple[Tensor, list[Any]]:
    """Call the torch kernel of ``units`` (one layer each) on packed data.

    Returns the last layer's output data and each layer's final state. ``dropout`` applies
    between layers. For an LSTM with a projection (one layer), ``params`` ends with
    ``weight_hr`` and ``h0`` is ``(B, P)`` while ``c0`` is ``(B, H)``; :func:`torch.lstm`
    tells the two layouts apart by those sizes, which is why :class:`~seqlearn.nn.LSTMCell`
    requires ``P < H``.
    """
    params = [weight for unit in units for weight in unit.fused_weights()]
    mode, layers = units[0].fused_mode, len(units)
    options = (True, layers, dropout, training, False)  # biases, layers, dropout, train, bidir
    if mode == "LSTM":
        h0 = torch.stack([state.h for state in states])  # (L, B, O)
        c0 = torch.stack([state.c for state in states])  # (L, B, H)
        out, h, c = torch.lstm(data, batch_sizes, [h0, c0], params, *options)
        return out, [LSTMState(h[i], c[i]) for i in range(layers)]
    hx = torch.stack([cast(Tensor, state) for state in states])  # (L, B, H)
    if mode == "GRU":
        out, h = torch.gru(data, batch_sizes, hx, params, *options)
    elif mode == "RNN_RELU":
        out, h = torch.rnn_relu(data, batch_sizes, hx, params, *options)
    else:
        out, h = torch.rnn_tanh(data, batch_sizes, hx, params, *options)
    return out, [h[i] for i in range(layers)]
