"""Reading a padded batch both ways: the bidirectional layer over two layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeGuard, TypeVar, cast

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn._checks import checking, trusted
from seqlearn.nn._eager import eager
from seqlearn.nn.cells.base import Cell
from seqlearn.nn.cells.fused import FusedLayer, call_kernel
from seqlearn.nn.layer import (
    FusedSequenceLayer,
    SequenceLayer,
    check_layer_input,
    check_state,
)
from seqlearn.nn.lengths import check_lengths, reverse_padded, valid_steps
from seqlearn.nn.packing import Packing
from seqlearn.nn.recurrent import Recurrent, _is_exporting
from seqlearn.nn.registry import register

__all__ = ["Bidirectional", "concatenate", "reverse_padded"]

ForwardStateT = TypeVar("ForwardStateT")
BackwardStateT = TypeVar("BackwardStateT")


@register("seqlearn.nn.concatenate")
def concatenate(forward_outputs: Tensor, backward_outputs: Tensor) -> Tensor:
    """Join the two directions' outputs on the last dimension; :class:`Bidirectional`'s default.

    Args:
        forward_outputs: Outputs of the forward direction.
        backward_outputs: Outputs of the backward direction, aligned with the input.

    Returns:
        ``torch.cat((forward_outputs, backward_outputs), dim=-1)``.

    Shape:
        - ``forward_outputs``: ``(B, T, H_f)``; ``backward_outputs``: ``(B, T, H_b)``.
        - output: ``(B, T, H_f + H_b)``.

    Example:
        >>> import torch
        >>> concatenate(torch.zeros(2, 5, 3), torch.ones(2, 5, 4)).shape
        torch.Size([2, 5, 7])
        >>> from seqlearn.nn import GRUCell
        >>> Bidirectional(GRUCell(3, 4), GRUCell(3, 2)).output_size  # merged by concatenate
        6
    """
    return torch.cat((forward_outputs, backward_outputs), dim=-1)


@register("seqlearn.nn.Bidirectional")
@final
class Bidirectional(nn.Module, Generic[ForwardStateT, BackwardStateT]):
    """Reads a padded batch both ways with two layers and merges their outputs.

    The forward layer reads each sequence from its first element; the backward layer from
    its last valid element (the padding stays at the end), and gives its outputs back in the
    input's order, so that at step ``t`` both layers' outputs belong to input ``t``. Given
    cells, the layer builds them: ``Recurrent(forward_cell)`` and ``Recurrent(backward_cell,
    reverse=True)``; given layers (any :class:`~seqlearn.nn.SequenceLayer`), it runs them as
    they are, so the backward one must read from the end itself (such as a
    :class:`~seqlearn.nn.Recurrent` with ``reverse=True``). ``merge_fn(forward_outputs,
    backward_outputs)`` then joins them; positions past each sequence's end are zeros
    whatever ``merge_fn`` returns there. Results over a padded batch equal running each
    sequence alone, and with torch.nn's cells they equal ``torch.nn.GRU`` / ``LSTM`` /
    ``RNN`` with ``bidirectional=True`` over a packed batch.

    When both directions are fused cells of one kind and size (one layer each), the two
    run as one bidirectional kernel call over one packing of the batch, as
    ``torch.nn.GRU(bidirectional=True)`` does; otherwise each layer runs by itself.

    ``merge_fn`` is any function of the two ``(B, T, H)`` output tensors (a
    :class:`torch.nn.Module` too, whose parameters are then registered here), for example
    :func:`concatenate` (the default), ``lambda a, b: a + b`` (sum) or
    ``lambda a, b: (a + b) / 2`` (mean). ``output_size`` is found once in ``__init__`` by
    calling ``merge_fn`` on zeros of shapes ``(1, 1, forward_output_size)`` and
    ``(1, 1, backward_output_size)``.

    Args:
        forward_cell: The cell (or layer) that reads each sequence from its first element.
        backward_cell: The cell (or layer) that reads each sequence from its last valid
            element.
        merge_fn: Joins the two directions' outputs.
        fused: Whether the layers built from cells may use fused kernels.

    Raises:
        TypeError: If a direction is neither a seqlearn Cell nor a sequence layer.
        ValueError: If the two read inputs of different sizes, or ``merge_fn`` does not
            return a ``(1, 1, O)`` tensor on the probe.

    Shape:
        - ``x``: ``(B, T, I)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - outputs: ``(B, T, O)`` with ``O = output_size``; the final states are each
          direction's last valid state: for the backward direction, the state after reading
          each sequence's *first* element.

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell, Recurrent
        >>> layer = Bidirectional(GRUCell(3, 5), GRUCell(3, 5))
        >>> outputs, (forward_state, backward_state) = layer(
        ...     torch.randn(2, 4, 3), torch.tensor([4, 2])
        ... )
        >>> outputs.shape, layer.output_size, backward_state.shape
        (torch.Size([2, 4, 10]), 10, torch.Size([2, 5]))
        >>> bool(outputs[1, 2:].eq(0).all())
        True
        >>> Bidirectional(GRUCell(3, 5), GRUCell(3, 5), merge_fn=lambda a, b: a + b).output_size
        5
        >>> from_layers = Bidirectional(Recurrent(GRUCell(3, 4)),
        ...                             Recurrent(GRUCell(3, 4), reverse=True))
        >>> from_layers.output_size
        8
    """

    input_size: int
    output_size: int

    def __init__(
        self,
        forward_cell: Cell[ForwardStateT] | SequenceLayer,
        backward_cell: Cell[BackwardStateT] | SequenceLayer,
        *,
        merge_fn: Callable[[Tensor, Tensor], Tensor] = concatenate,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.forward_layer = _layer(forward_cell, fused=fused, reverse=False)
        self.backward_layer = _layer(backward_cell, fused=fused, reverse=True)
        if self.forward_layer.input_size != self.backward_layer.input_size:
            raise ValueError(
                "both cells must read inputs of one size, got input_size "
                f"{self.forward_layer.input_size} (forward) and "
                f"{self.backward_layer.input_size} (backward)"
            )
        self.input_size = self.forward_layer.input_size
        self.merge_fn = merge_fn
        self.output_size = self._probe_output_size(
            self.forward_layer.output_size, self.backward_layer.output_size
        )

    def _probe_output_size(self, forward_size: int, backward_size: int) -> int:
        with torch.no_grad():
            merged = self.merge_fn(
                torch.zeros(1, 1, forward_size), torch.zeros(1, 1, backward_size)
            )
        if not isinstance(merged, Tensor) or merged.dim() != 3 or merged.shape[:2] != (1, 1):
            shape = tuple(merged.shape) if isinstance(merged, Tensor) else type(merged).__name__
            raise ValueError(
                f"merge_fn must map (1, 1, {forward_size}) and (1, 1, {backward_size}) outputs "
                f"to a (1, 1, O) tensor, got {shape}"
            )
        return int(merged.size(2))

    def joint_layers(self) -> list[FusedLayer] | None:
        """The forward and the backward kernel layer, if the two directions run as one
        bidirectional kernel call (fused cells of one kind and size, one layer each).

        Returns:
            ``[forward, backward]``, or ``None``.

        Example:
            >>> from seqlearn.nn import GRUCell, IndRNNCell, LSTMCell
            >>> [k.mode for k in Bidirectional(GRUCell(3, 4), GRUCell(3, 4)).joint_layers()]
            ['GRU', 'GRU']
            >>> Bidirectional(GRUCell(3, 4), LSTMCell(3, 4)).joint_layers() is None
            True
        """
        forward, backward = self.forward_layer, self.backward_layer
        if not (_is_fused_layer(forward) and _is_fused_layer(backward)):
            return None
        if forward.reverse or not backward.reverse:
            return None
        pair = (forward.fused_layers(), backward.fused_layers())
        if pair[0] is None or pair[1] is None or len(pair[0]) != 1 or len(pair[1]) != 1:
            return None
        layers = [pair[0][0], pair[1][0]]
        same = (
            layers[0].mode == layers[1].mode
            and all(
                a.shape == b.shape
                for a, b in zip(layers[0].weights, layers[1].weights, strict=True)
            )
            and len(layers[0].weights) == len(layers[1].weights)
        )
        return layers if same else None

    def final_output(self, state: tuple[ForwardStateT, BackwardStateT]) -> Tensor:
        """Both directions' outputs that go with their final states, merged as the outputs
        are: with the default merge, the forward output at each row's last valid step
        beside the backward output at step 0 (what :func:`~seqlearn.nn.bidirectional_final`
        reads from the outputs, and torch's ``h_n`` of a bidirectional GRU).

        Args:
            state: The pair of final states that :meth:`forward` returns.

        Returns:
            ``(B, O)``.
        """
        forward = cast(Any, self.forward_layer).final_output(state[0])  # (B, O_f)
        backward = cast(Any, self.backward_layer).final_output(state[1])  # (B, O_b)
        if self.merge_fn is concatenate:
            return torch.cat((forward, backward), dim=1)
        return self.merge_fn(forward.unsqueeze(1), backward.unsqueeze(1)).squeeze(1)

    @override
    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        initial_state: tuple[ForwardStateT, BackwardStateT] | None = None,
    ) -> tuple[Tensor, tuple[ForwardStateT, BackwardStateT]]:
        """Run both directions over ``x`` and merge their outputs.

        Args:
            x: Padded input batch.
            lengths: Valid length of each sequence; ``None`` means all are ``T`` long.
            initial_state: The forward and the backward state before each direction's first
                step; defaults to each direction's initial state.

        Returns:
            The merged outputs (zeros past each sequence's end) and the pair of final
            states ``(forward_final_state, backward_final_state)``.

        Raises:
            ValueError: If ``x`` is not ``(B, T, I)``, ``lengths`` does not fit it,
                ``merge_fn`` returns a tensor of another shape than ``(B, T, O)``, or an
                initial state does not fit its cell (see :class:`~seqlearn.nn.Recurrent`).
            TypeError: If ``x`` is not a floating point tensor of the cells' dtype,
                ``lengths`` not integer, or ``initial_state`` not a pair of states.
        """
        if checking():
            self._check_input(x, initial_state)
        batch_size, steps = x.shape[:2]
        if checking() and initial_state is not None:  # the layers run trusted below
            for layer, state in zip((self.forward_layer, self.backward_layer), initial_state):
                if _is_fused_layer(layer):
                    expected = layer.initial_state(batch_size, device=x.device, dtype=x.dtype)
                    check_state("initial_state", state, expected)
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps).to(x.device)
        outputs, finals = self._run(x, lengths, initial_state)
        if outputs.shape != (batch_size, steps, self.output_size):
            raise ValueError(
                f"expected merge_fn to return shape ({batch_size}, {steps}, {self.output_size}), "
                f"got {tuple(outputs.shape)}"
            )
        if lengths is not None and self.merge_fn is not concatenate:
            outputs = outputs.masked_fill(~valid_steps(lengths, steps).unsqueeze(2), 0.0)
        return outputs, cast(tuple[ForwardStateT, BackwardStateT], finals)

    @eager  # packing reads the lengths on the host; the layers' runs stay eager anyway
    def _run(
        self, x: Tensor, lengths: Tensor | None, initial_state: tuple[Any, Any] | None
    ) -> tuple[Tensor, tuple[Any, Any]]:
        """Both directions: one joint kernel call when they allow it, else each layer."""
        batch_size, steps = x.shape[:2]
        joint = self.joint_layers()
        if joint is not None and batch_size and steps and not _is_exporting():
            return self._run_joint(joint, x, lengths, initial_state)
        forward_initial, backward_initial = (None, None) if initial_state is None else initial_state
        with trusted():
            forward_outputs, forward_final = self.forward_layer(x, lengths, forward_initial)
            backward_outputs, backward_final = self.backward_layer(x, lengths, backward_initial)
        outputs = self.merge_fn(forward_outputs, backward_outputs)  # (B, T, O)
        return outputs, (forward_final, backward_final)

    def _run_joint(
        self,
        layers: list[FusedLayer],
        x: Tensor,
        lengths: Tensor | None,
        initial_state: tuple[Any, Any] | None,
    ) -> tuple[Tensor, tuple[Any, Any]]:
        """Both directions in one bidirectional kernel call over one packing of the batch."""
        batch_size = x.shape[0]
        if initial_state is None:
            forward, backward = cast(tuple[FusedSequenceLayer, FusedSequenceLayer], (
                self.forward_layer, self.backward_layer
            ))  # fmt: skip
            initial_state = (
                forward.initial_state(batch_size, device=x.device, dtype=x.dtype),
                backward.initial_state(batch_size, device=x.device, dtype=x.dtype),
            )
        packing = Packing(x, lengths)
        sorted_states = [packing.sort(state) for state in initial_state]
        data, finals = call_kernel(
            layers, packing.data, packing.batch_sizes, sorted_states, bidirectional=True
        )  # data: (N, O_f + O_b)
        both = packing.unpack(data)  # (B, T, O_f + O_b)
        if self.merge_fn is concatenate:
            outputs = both
        else:
            sizes = [self.forward_layer.output_size, self.backward_layer.output_size]
            outputs = self.merge_fn(*torch.split(both, sizes, dim=2))
        forward_final = packing.finish(finals[0], initial_state[0])
        backward_final = packing.finish(finals[1], initial_state[1])
        return outputs, (forward_final, backward_final)

    def _check_input(self, x: Tensor, initial_state: object) -> None:
        if (
            isinstance(x, Tensor)
            and initial_state is not None
            and (not isinstance(initial_state, tuple) or len(initial_state) != 2)
        ):
            raise TypeError(
                "expected initial_state as a pair (forward_state, backward_state), "
                f"got {type(initial_state).__name__}"
            )
        check_layer_input(x, self.input_size, self)

    @override
    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def _layer(part: object, *, fused: bool, reverse: bool) -> SequenceLayer:
    """A direction of a bidirectional layer: a layer as given, or a cell run over time."""
    if isinstance(part, Cell):
        return Recurrent(part, fused=fused, reverse=reverse)
    if isinstance(part, nn.Module) and isinstance(part, SequenceLayer):
        return part
    raise TypeError(
        f"expected a seqlearn Cell or a sequence layer for each direction, got "
        f"{type(part).__name__}"
    )


_FUSED_LAYER_TYPES: dict[type, bool] = {}


def _is_fused_layer(layer: object) -> TypeGuard[FusedSequenceLayer]:
    """``isinstance(layer, FusedSequenceLayer)``, remembered per class: a protocol check
    looks up every member and would cost more than a small layer's forward."""
    kind = type(layer)
    known = _FUSED_LAYER_TYPES.get(kind)
    if known is None:
        known = _FUSED_LAYER_TYPES[kind] = isinstance(layer, FusedSequenceLayer)
    return known
