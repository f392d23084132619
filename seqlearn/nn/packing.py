"""Packing a padded batch for torch's recurrent kernels, and unpacking what they return.

Private to :mod:`seqlearn.nn`: the recurrent and bidirectional layers pack a batch once,
run their cells over the packed data, and unpack the outputs once.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlearn.nn.state import map_state, where_rows

__all__ = ["Packing"]


class Packing:
    """A padded batch packed for torch's kernels, and the way back to the caller's order.

    Lengths already sorted in descending order (as a length-bucketing sampler gives them)
    are packed as they are, with no reordering of rows; otherwise rows are sorted here and
    restored after. Zero-length rows run as length 1 and are reset by :meth:`finish`. The
    lengths are read on the host once, as one list.

    Shape:
        - x: ``(B, T, I)``; lengths: ``(B,)`` or ``None`` for all ``T``.
        - data: ``(N, I)``, the packed inputs; batch_sizes: ``(T,)`` on the CPU.
    """

    def __init__(self, x: Tensor, lengths: Tensor | None) -> None:
        batch_size, self.steps = x.shape[:2]
        sizes = [self.steps] * batch_size if lengths is None else lengths.tolist()
        self.empty = None
        if min(sizes) == 0:
            self.empty = torch.tensor([size == 0 for size in sizes], device=x.device)
        descending = all(a >= b for a, b in itertools.pairwise(sizes))
        packed = pack_padded_sequence(
            x, [max(size, 1) for size in sizes], batch_first=True, enforce_sorted=descending
        )
        self.data, self.batch_sizes = packed.data, packed.batch_sizes
        self.sorted_indices = packed.sorted_indices
        self.unsorted_indices = packed.unsorted_indices

    def sort(self, state: Any) -> Any:
        """``state`` with its rows in the packed order."""
        order = self.sorted_indices
        return state if order is None else map_state(lambda t: t.index_select(0, order), state)

    def unpack(self, data: Tensor) -> Tensor:
        """Packed output data as a padded ``(B, T, O)`` batch in the caller's row order;
        zeros past each row's end (and in zero-length rows)."""
        packed = PackedSequence(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)
        outputs, _ = pad_packed_sequence(packed, batch_first=True, total_length=self.steps)
        if self.empty is not None:
            outputs = outputs * (~self.empty).to(outputs.dtype).view(-1, 1, 1)
        return outputs

    def finish(self, final: Any, initial: Any) -> Any:
        """A final state back in the caller's row order; zero-length rows keep ``initial``."""
        restore = self.unsorted_indices
        if restore is not None:
            final = map_state(lambda t: t.index_select(0, restore), final)
        return final if self.empty is None else where_rows(~self.empty, final, initial)
