"""Running a cell over time: the recurrent layer over padded variable-length batches."""

from __future__ import annotations

from typing import Generic, TypeVar

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn._checks import checking
from seqlearn.nn._eager import eager
from seqlearn.nn.cells.base import Cell
from seqlearn.nn.cells.fused import FusedLayer
from seqlearn.nn.layer import check_layer_input, check_state
from seqlearn.nn.lengths import check_lengths, reverse_padded, valid_steps
from seqlearn.nn.packing import Packing
from seqlearn.nn.registry import register
from seqlearn.nn.state import map_state

__all__ = ["Recurrent", "check_lengths"]

StateT = TypeVar("StateT")


def _is_exporting() -> bool:
    """``torch.compiler.is_exporting()``; torch < 2.7 lacks it (and cannot export to ONNX)."""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return is_exporting is not None and bool(is_exporting())


@register("seqlearn.nn.Recurrent")
@final
class Recurrent(nn.Module, Generic[StateT]):
    """Runs a cell (or a stack of cells) over a batch of padded sequences.

    Each sequence's state is frozen after its last valid step, so the returned state is
    each sequence's last valid state, and outputs past a sequence's end are zeros. Results
    over a padded batch equal running each sequence alone. With ``reverse=True`` the layer
    reads each sequence from its last valid element to its first (the padding stays at the
    end), and its outputs are put back in the input's order, so that output ``t`` belongs
    to input ``t``: the backward half of a :class:`~seqlearn.nn.Bidirectional` layer.

    The layer packs the batch once (longest rows first; an already sorted batch is not
    reordered), lets the cell run itself over the packed data (:meth:`Cell.run
    <seqlearn.nn.Cell.run>`) and unpacks the outputs once. The cell decides how it runs:
    :class:`~seqlearn.nn.ElmanCell`, :class:`~seqlearn.nn.GRUCell` and
    :class:`~seqlearn.nn.LSTMCell` on torch.nn's fused kernels, a
    :class:`~seqlearn.nn.StackedCell` of them as one multi-layer kernel call, any other cell
    step by step (each step running only the rows still going). Both paths give the same
    numbers; ``fused=False`` forces the steps. The layer knows no cell by its class.

    The layer checks its inputs once per call, at its boundary; called from a model's
    forward that has checked them (a :class:`~seqlearn.nn.SequenceClassifier`, a
    :class:`~seqlearn.nn.ConditionalLM`), it does not check them again. Under
    :func:`torch.compile` the packed run stays eager (packing needs the lengths on the host);
    under :func:`torch.export.export` the layer runs the cell over the padded batch instead
    (:meth:`Cell.run_padded <seqlearn.nn.Cell.run_padded>`), which exports.

    Args:
        cell: The cell to run.
        fused: Whether to use fused kernels when the cell allows it.
        reverse: Whether to read each sequence from its end.

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
        >>> backward = Recurrent(GRUCell(3, 5), reverse=True)
        >>> backward.input_size, backward.output_size
        (3, 5)
    """

    def __init__(self, cell: Cell[StateT], *, fused: bool = True, reverse: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be a seqlearn Cell, got {type(cell).__name__}")
        self.cell = cell
        self.fused = fused
        self.reverse = reverse

    @property
    def input_size(self) -> int:
        """The size ``I`` of each input vector: the cell's."""
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        """The size ``O`` of each output vector: the cell's."""
        return self.cell.output_size

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
        return self.fused_layers() is not None

    def final_output(self, state: StateT) -> Tensor:
        """The output that goes with a final state: each row's output at the last step the
        layer ran (its last valid step; step 0 when ``reverse``), read from the state
        (:meth:`Cell.final_output <seqlearn.nn.Cell.final_output>`).

        Args:
            state: A final state, as :meth:`forward` returns it.

        Returns:
            ``(B, O)``.

        Example:
            >>> from seqlearn.nn import LSTMCell
            >>> layer = Recurrent(LSTMCell(3, 4))
            >>> outputs, state = layer(torch.randn(2, 5, 3), torch.tensor([5, 2]))
            >>> torch.equal(layer.final_output(state)[1], outputs[1, 1])
            True
        """
        return self.cell.final_output(state)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> StateT:
        """The cell's initial state for ``batch_size`` sequences (what :meth:`forward` starts
        from unless given one).

        Args:
            batch_size: Number of sequences ``B``.
            device: Device of the state; defaults to the cell's parameters' device.
            dtype: Floating dtype; defaults to the cell's parameters' dtype.

        Returns:
            The state.
        """
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def fused_layers(self) -> list[FusedLayer] | None:
        """The torch kernel layers the cell runs as, or ``None`` (step by step, or not
        ``fused``); what a :class:`~seqlearn.nn.Bidirectional` layer reads to run two
        directions in one kernel call.

        Returns:
            The layers, bottom first, or ``None``.
        """
        return self.cell.fused_layers() if self.fused else None

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
        if checking():
            check_layer_input(x, self.cell.input_size, self.cell)
        batch_size, steps = x.shape[:2]
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps)
        expected = self.cell.initial_state(batch_size, device=x.device, dtype=x.dtype)
        if initial_state is None:
            state = expected
        else:
            if checking():
                check_state("initial_state", initial_state, expected)
            state = initial_state
        if steps == 0 or batch_size == 0:
            return x.new_zeros(batch_size, steps, self.cell.output_size), state
        return self._run(x, lengths, state)

    @eager  # packing reads the lengths on the host
    def _run(self, x: Tensor, lengths: Tensor | None, state: StateT) -> tuple[Tensor, StateT]:
        """Pack once, let the cell run over the packed data, unpack once (unchecked)."""
        if self.reverse:
            x = reverse_padded(x, lengths)
        packing = Packing(x, lengths)
        data, final = self.cell.run(
            packing.data, packing.batch_sizes, packing.sort(state), fused=self.fused
        )
        outputs = packing.unpack(data)  # (B, T, O)
        if self.reverse:
            outputs = reverse_padded(outputs, lengths)
        return outputs, packing.finish(final, state)

    def _run_exported(
        self, x: Tensor, lengths: Tensor | None, initial_state: StateT | None
    ) -> tuple[Tensor, StateT]:
        """The path :func:`torch.export.export` traces (for ONNX): the cell over the padded
        batch, time first, with the batch and time sizes left symbolic."""
        batch_size, steps = x.shape[:2]
        if initial_state is None:  # one row expanded: initial_state(B) would fix B
            one = self.cell.initial_state(1, device=x.device, dtype=x.dtype)
            initial_state = map_state(lambda t: t.expand(batch_size, *t.shape[1:]), one)
        if lengths is None:
            lengths = torch.full((batch_size,), steps, dtype=torch.long, device=x.device)
        if self.reverse:
            x = reverse_padded(x, lengths)
        valid = valid_steps(lengths, steps).transpose(0, 1)  # (T, B)
        outputs, final = self.cell.run_padded(x.transpose(0, 1), valid, initial_state)
        outputs = outputs.transpose(0, 1)  # (B, T, O)
        if self.reverse:
            outputs = reverse_padded(outputs, lengths)
        return outputs, final

    @override
    def extra_repr(self) -> str:
        options = [f"fused={self.fused}"] * (not self.fused)
        options += [f"reverse={self.reverse}"] * self.reverse
        return ", ".join(options)
