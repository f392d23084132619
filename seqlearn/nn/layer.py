"""What a sequence layer is: the protocol that layers, stacks of layers and heads share.

A *layer* runs over a whole padded batch: ``layer(x, lengths, state) -> (outputs, state)``,
with ``x (B, T, I)``, ``lengths (B,)`` and ``outputs (B, T, O)``, zeros past each
sequence's end. :class:`~seqlearn.nn.Recurrent` (a cell over time, either way),
:class:`~seqlearn.nn.Bidirectional` (two layers side by side) and
:class:`~seqlearn.nn.StackedLayers` (layers in depth) are layers, and so is any module of
yours with these sizes and this call; heads read ``input_size`` and ``output_size`` from
it.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import torch
from torch import Tensor, nn
from typing_extensions import Protocol, runtime_checkable

from seqlearn.nn.cells.fused import FusedLayer

__all__ = ["FusedSequenceLayer", "SequenceLayer", "check_layer_input", "check_state"]

StateT = TypeVar("StateT")


@runtime_checkable
class SequenceLayer(Protocol):
    """A layer over padded sequences: sizes in and out, and ``(x, lengths, state)``.

    Example:
        >>> from seqlearn.nn import Bidirectional, GRUCell, Recurrent
        >>> isinstance(Recurrent(GRUCell(3, 4)), SequenceLayer)
        True
        >>> layer: SequenceLayer = Bidirectional(GRUCell(3, 4), GRUCell(3, 4))
        >>> layer.input_size, layer.output_size
        (3, 8)
    """

    @property
    def input_size(self) -> int:
        """The size ``I`` of each input vector."""
        ...

    @property
    def output_size(self) -> int:
        """The size ``O`` of each output vector."""
        ...

    def __call__(
        self, x: Tensor, lengths: Tensor | None = None, initial_state: Any = None
    ) -> tuple[Tensor, Any]:
        """Run over a padded batch ``(B, T, I)``; outputs ``(B, T, O)`` and the final state."""
        ...


@runtime_checkable
class FusedSequenceLayer(SequenceLayer, Protocol):
    """A layer that can say which torch kernel layers it runs as, and in which direction:
    what :class:`~seqlearn.nn.Bidirectional` needs to run two directions in one kernel call.

    Example:
        >>> from seqlearn.nn import GRUCell, Recurrent
        >>> layer = Recurrent(GRUCell(3, 4), reverse=True)
        >>> isinstance(layer, FusedSequenceLayer), layer.reverse
        (True, True)
        >>> [kernel.mode for kernel in layer.fused_layers()]
        ['GRU']
    """

    @property
    def reverse(self) -> bool:
        """Whether the layer reads each sequence from its end."""
        ...

    def fused_layers(self) -> list[FusedLayer] | None:
        """The kernel layers it runs as, or ``None`` if it does not run on one."""
        ...

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Any:
        """The state that starts ``batch_size`` sequences."""
        ...


def check_layer_input(x: object, input_size: int, layer: nn.Module) -> None:
    """Check a layer's input: a floating ``(B, T, I)`` tensor of the layer's dtype.

    Raises:
        TypeError: If ``x`` is not a floating point tensor, or (outside autocast) its dtype
            differs from the layer's parameters'.
        ValueError: If ``x`` is not ``(B, T, I)``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"expected input of shape (B, T, {input_size}) as a tensor, got {type(x).__name__}"
        )
    if x.dim() != 3 or x.size(2) != input_size:
        raise ValueError(f"expected input of shape (B, T, {input_size}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating point input, got dtype {x.dtype}")
    weight = next(layer.parameters(), None)
    if (
        weight is not None
        and weight.is_floating_point()
        and x.dtype != weight.dtype
        and not torch.is_autocast_enabled(x.device.type)
    ):
        raise TypeError(
            f"expected input of dtype {weight.dtype} (the cell's parameters), got {x.dtype}"
        )


def check_state(where: str, given: object, expected: object) -> None:
    """Raise unless ``given`` has the structure and tensor shapes of ``expected``.

    Raises:
        TypeError: If the structure differs, naming the part (``initial_state.c``).
        ValueError: If a tensor's shape differs, naming the part.
    """
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
        check_state(part, item, reference)
