"""Reading a padded batch both ways: the bidirectional layer over two recurrent layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import torch
from torch import Tensor, nn
from typing_extensions import final, override

from seqlearn.nn.cells.base import Cell
from seqlearn.nn.recurrent import Recurrent, check_lengths
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


def reverse_padded(x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Reverse each sequence of a padded batch within its own length.

    Row ``b`` becomes ``x[b, L_b - 1], ..., x[b, 0]`` followed by its padding, unchanged and
    in place (``L_b = lengths[b]``). Applying it twice gives ``x`` back. One gather with
    per-row indices does the work; no loop over rows.

    Args:
        x: Padded batch, time on dimension 1.
        lengths: Valid length of each sequence; ``None`` means all are ``T`` long, which
            reverses the whole time axis.

    Returns:
        The reversed batch, of the shape of ``x``.

    Raises:
        ValueError: If ``x`` has fewer than 2 dimensions or ``lengths`` does not fit it.
        TypeError: If ``lengths`` is not an integer tensor.

    Shape:
        - ``x``: ``(B, T, *)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - output: ``(B, T, *)``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
        >>> reverse_padded(x, torch.tensor([3, 2]))
        tensor([[3, 2, 1, 0],
                [5, 4, 0, 0]])
    """
    if x.dim() < 2:
        raise ValueError(f"expected input of shape (B, T, *), got {tuple(x.shape)}")
    if lengths is None:
        return x.flip(1)
    batch_size, steps = x.shape[:2]
    lengths = check_lengths(lengths, batch_size, steps).to(x.device)
    time = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
    ends = lengths.unsqueeze(1)  # (B, 1)
    index = torch.where(time < ends, ends - 1 - time, time)  # (B, T)
    rows = torch.arange(batch_size, device=x.device).unsqueeze(1)  # (B, 1)
    return x[rows, index]  # (B, T, *)


@register("seqlearn.nn.Bidirectional")
@final
class Bidirectional(nn.Module, Generic[ForwardStateT, BackwardStateT]):
    """Runs one cell forward and another backward over a padded batch and merges them.

    The forward direction is a :class:`~seqlearn.nn.Recurrent` over ``x``. The backward one
    reads each sequence reversed within its own length (see :func:`reverse_padded`; the
    padding stays at the end), and its outputs are reversed back, so that at step ``t`` both
    directions' outputs belong to input ``t``. ``merge_fn(forward_outputs,
    backward_outputs)`` then joins them; positions past each sequence's end are zeros
    whatever ``merge_fn`` returns there. Results over a padded batch equal running each
    sequence alone, and with torch.nn's cells they equal ``torch.nn.GRU`` / ``LSTM`` /
    ``RNN`` with ``bidirectional=True`` over a packed batch.

    ``merge_fn`` is any function of the two ``(B, T, H)`` output tensors (a
    :class:`torch.nn.Module` too, whose parameters are then registered here), for example
    :func:`concatenate` (the default), ``lambda a, b: a + b`` (sum) or
    ``lambda a, b: (a + b) / 2`` (mean). ``output_size`` is found once in ``__init__`` by
    calling ``merge_fn`` on zeros of shapes ``(1, 1, forward_cell.output_size)`` and
    ``(1, 1, backward_cell.output_size)``.

    Args:
        forward_cell: The cell that reads each sequence from its first element.
        backward_cell: The cell that reads each sequence from its last valid element.
        merge_fn: Joins the two directions' outputs.
        fused: Whether the two :class:`~seqlearn.nn.Recurrent` layers may use fused kernels.

    Raises:
        TypeError: If a cell is not a seqlearn Cell.
        ValueError: If the cells' ``input_size`` differ, or ``merge_fn`` does not return a
            ``(1, 1, O)`` tensor on the probe.

    Shape:
        - ``x``: ``(B, T, I)``; ``lengths``: ``(B,)`` with values in ``[0, T]``.
        - outputs: ``(B, T, O)`` with ``O = output_size``; the final states are each
          direction's last valid state: for the backward direction, the state after reading
          each sequence's *first* element.

    Example:
        >>> import torch
        >>> from seqlearn.nn import GRUCell
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
    """

    output_size: int

    def __init__(
        self,
        forward_cell: Cell[ForwardStateT],
        backward_cell: Cell[BackwardStateT],
        *,
        merge_fn: Callable[[Tensor, Tensor], Tensor] = concatenate,
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.forward_layer: Recurrent[ForwardStateT] = Recurrent(forward_cell, fused=fused)
        self.backward_layer: Recurrent[BackwardStateT] = Recurrent(backward_cell, fused=fused)
        if forward_cell.input_size != backward_cell.input_size:
            raise ValueError(
                "both cells must read inputs of one size, got input_size "
                f"{forward_cell.input_size} (forward) and {backward_cell.input_size} (backward)"
            )
        self.input_size = forward_cell.input_size
        self.merge_fn = merge_fn
        self.output_size = self._probe_output_size(
            forward_cell.output_size, backward_cell.output_size
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
                step; defaults to each cell's ``initial_state(B)``.

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
        if not isinstance(x, Tensor):
            raise TypeError(
                f"expected input of shape (B, T, {self.input_size}) as a tensor, "
                f"got {type(x).__name__}"
            )
        if initial_state is not None and (
            not isinstance(initial_state, tuple) or len(initial_state) != 2
        ):
            raise TypeError(
                "expected initial_state as a pair (forward_state, backward_state), "
                f"got {type(initial_state).__name__}"
            )
        if x.dim() != 3 or x.size(2) != self.input_size:
            raise ValueError(
                f"expected input of shape (B, T, {self.input_size}), got {tuple(x.shape)}"
            )
        batch_size, steps = x.shape[:2]
        if lengths is not None:
            lengths = check_lengths(lengths, batch_size, steps).to(x.device)
        forward_initial, backward_initial = (None, None) if initial_state is None else initial_state
        forward_outputs: Tensor  # (B, T, H_f)
        forward_final: ForwardStateT
        forward_outputs, forward_final = self.forward_layer(x, lengths, forward_initial)
        reversed_outputs: Tensor  # (B, T, H_b), in reversed time
        backward_final: BackwardStateT
        reversed_outputs, backward_final = self.backward_layer(
            reverse_padded(x, lengths), lengths, backward_initial
        )
        backward_outputs = reverse_padded(reversed_outputs, lengths)  # (B, T, H_b)
        outputs = self.merge_fn(forward_outputs, backward_outputs)  # (B, T, O)
        if outputs.shape != (batch_size, steps, self.output_size):
            raise ValueError(
                f"expected merge_fn to return shape ({batch_size}, {steps}, {self.output_size}), "
                f"got {tuple(outputs.shape)}"
            )
        if lengths is not None:
            valid = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
            outputs = outputs.masked_fill(~valid.unsqueeze(2), 0.0)  # (B, T, O)
        return outputs, (forward_final, backward_final)

    @override
    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
