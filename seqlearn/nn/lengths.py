"""Padded batches with lengths: checking the lengths, masking and reversing within them."""

from __future__ import annotations

import torch
from torch import Tensor

from seqlearn._checks import checking

__all__ = ["check_lengths", "reverse_padded", "valid_steps"]


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

    The values are not checked inside :func:`torch.compile` and :func:`torch.export.export`,
    nor within a model's forward that has checked them already: each forward checks its
    lengths once, at its boundary.
    """
    if not checking():
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
    if batch_size:
        low, high = value_range(lengths)
        if low < 0 or high > max_length:
            raise ValueError(
                f"lengths must lie in [0, {max_length}] (the time axis of the input), "
                f"got values from {low} to {high}"
            )
    return lengths.long()


def value_range(values: Tensor) -> tuple[int, int]:
    """The smallest and largest value of a non-empty integer tensor, read in one host
    synchronisation."""
    low, high = torch.stack(torch.aminmax(values.detach())).tolist()
    return int(low), int(high)


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


def valid_steps(lengths: Tensor, steps: int) -> Tensor:
    """Which steps of each row are valid: ``(B, T)``, true before each row's length.

    Args:
        lengths: Valid length of each sequence, ``(B,)``.
        steps: Size ``T`` of the time axis.

    Returns:
        A boolean ``(B, T)`` mask on the lengths' device.

    Example:
        >>> valid_steps(torch.tensor([2, 0]), 3)
        tensor([[ True,  True, False],
                [False, False, False]])
    """
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)
