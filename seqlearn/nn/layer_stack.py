"""Layers stacked in depth: a deep (bidirectional) recurrent network built from layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn._checks import checking, trusted
from seqlearn.nn._inputs import check_stack
from seqlearn.nn.dropout import locked_dropout
from seqlearn.nn.layer import SequenceLayer
from seqlearn.nn.lengths import check_lengths
from seqlearn.nn.registry import register

__all__ = ["StackedLayers"]


@register("seqlearn.nn.StackedLayers")
@final
class StackedLayers(nn.Module):
    r"""Sequence layers stacked in depth: each layer reads the whole output of the one below.

    Where a :class:`~seqlearn.nn.StackedCell` stacks cells inside one step (a deep cell that
    one layer runs over time), this stacks whole layers, so a layer can read the future as
    well as the past of the layer below: a stack of :class:`~seqlearn.nn.Bidirectional`
    layers is a deep bidirectional network, as ``torch.nn.GRU(num_layers=L,
    bidirectional=True)`` is (each layer reads both directions of the layer below).
    Dropout (in training mode only) applies to each layer's outputs before the next layer,
    never to the top's:

    .. math::
        y_0 = \mathrm{layer}_0(x), \qquad
        y_l = \mathrm{layer}_l(\mathrm{dropout}(y_{l-1})) \quad (l \ge 1)

    With ``locked=True`` the dropout between layers is locked (variational, as in AWD-LSTM):
    one mask per sequence and layer, the same at every time step
    (:func:`~seqlearn.nn.locked_dropout`).

    Args:
        layers: The layers (:class:`~seqlearn.nn.SequenceLayer`), bottom first.
        dropout: Probability of zeroing an element between layers.
        locked: Whether the dropout between layers draws one mask per sequence (for all its
            steps) instead of one per element.

    Raises:
        ValueError: If ``layers`` is empty, the sizes do not chain, or ``dropout`` is outside
            ``[0, 1)``.
        TypeError: If a layer is not a sequence layer module.

    Shape:
        - ``x``: ``(B, T, I)``; ``lengths``: ``(B,)``; outputs: ``(B, T, O)``, with ``I`` the
          bottom layer's input size and ``O`` the top layer's output size; the state is a
          tuple of the layers' states.

    Example:
        >>> import torch
        >>> from seqlearn.nn import Bidirectional, GRUCell, Recurrent
        >>> deep = StackedLayers(
        ...     [Bidirectional(GRUCell(3, 4), GRUCell(3, 4)),
        ...      Bidirectional(GRUCell(8, 4), GRUCell(8, 4))], dropout=0.1)
        >>> outputs, (bottom, top) = deep(torch.randn(2, 5, 3), torch.tensor([5, 2]))
        >>> outputs.shape, deep.input_size, deep.output_size
        (torch.Size([2, 5, 8]), 3, 8)
        >>> awd = StackedLayers([Recurrent(GRUCell(3, 4)), Recurrent(GRUCell(4, 4))],
        ...                     dropout=0.3, locked=True)  # variational dropout between
    """

    input_size: int
    output_size: int

    def __init__(
        self, layers: Sequence[SequenceLayer], *, dropout: float = 0.0, locked: bool = False
    ) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("layers must hold at least one layer, got an empty sequence")
        for index, layer in enumerate(layers):
            if not isinstance(layer, nn.Module) or not isinstance(layer, SequenceLayer):
                raise TypeError(
                    f"layers[{index}] must be a sequence layer module (such as Recurrent or "
                    f"Bidirectional), got {type(layer).__name__}"
                )
        check_stack(layers, dropout)
        self.layers = nn.ModuleList(cast(Sequence[nn.Module], layers))
        self.dropout = dropout
        self.locked = locked
        self.input_size = layers[0].input_size
        self.output_size = layers[-1].output_size

    def final_output(self, state: tuple[Any, ...]) -> Tensor:
        """The top layer's output that goes with its final state, ``(B, O)``.

        Args:
            state: The per-layer final states that :meth:`forward` returns.

        Returns:
            ``(B, O)``.
        """
        return cast(Tensor, cast(Any, self.layers[-1]).final_output(state[-1]))

    @override
    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        initial_state: tuple[Any, ...] | None = None,
    ) -> tuple[Tensor, tuple[Any, ...]]:
        """Run every layer, bottom first.

        Args:
            x: Padded input batch.
            lengths: Valid length of each sequence; ``None`` means all are ``T`` long.
            initial_state: One state per layer (``None`` in a place for the layer's own);
                ``None`` for all.

        Returns:
            The top layer's outputs and each layer's final state.

        Raises:
            ValueError: If ``x`` or ``lengths`` do not fit, or ``initial_state`` does not
                hold one state per layer.
            TypeError: As the layers raise for inputs of the wrong type.
        """
        if checking():
            if not isinstance(x, Tensor) or x.dim() != 3 or x.size(2) != self.input_size:
                shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise ValueError(f"expected input of shape (B, T, {self.input_size}), got {shape}")
            if initial_state is not None and len(initial_state) != len(self.layers):
                raise ValueError(
                    f"expected one initial state per layer ({len(self.layers)}), "
                    f"got {len(initial_state)}"
                )
            if lengths is not None:
                lengths = check_lengths(lengths, x.size(0), x.size(1)).to(x.device)
        states = initial_state or (None,) * len(self.layers)
        finals = []
        with trusted():
            for depth, (layer, state) in enumerate(zip(self.layers, states)):
                if depth > 0 and self.locked:
                    x = locked_dropout(x, self.dropout, training=self.training)
                elif depth > 0:
                    x = nn.functional.dropout(x, self.dropout, self.training)
                x, final = layer(x, lengths, state)
                finals.append(final)
        return x, tuple(finals)

    @override
    def extra_repr(self) -> str:
        return f"dropout={self.dropout}" + ", locked=True" * self.locked
