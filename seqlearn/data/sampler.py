"""A batch sampler that groups sequences of similar length, so batches need little padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler
from typing_extensions import final

__all__ = ["LengthBucketSampler"]


@final
class LengthBucketSampler(Sampler[list[int]]):
    """Yield batches of indices whose sequences have similar lengths.

    Each epoch the indices are shuffled and cut into buckets of ``bucket_size``; each
    bucket is sorted by length (a stable sort, so equal lengths keep the shuffled order).
    The sorted buckets, laid end to end, are cut into batches of ``batch_size``, and the
    order of the batches is shuffled. Only the last batch cut can be short (it is dropped
    when ``drop_last``), and when ``bucket_size`` is a multiple of ``batch_size`` (as by
    default) no batch spans two buckets.

    With ``shuffle=False`` nothing is random: buckets are runs of consecutive indices, and
    batches come in order, sorted by length within each bucket.

    Pass it to a :class:`torch.utils.data.DataLoader` as ``batch_sampler``.

    Args:
        lengths: Length of each example; example ``i`` has length ``lengths[i]``.
        batch_size: Number of indices per batch.
        shuffle: Whether to shuffle the indices and the batch order each epoch.
        drop_last: Whether to drop the short last batch, if any.
        bucket_size: Number of indices sorted together; larger buckets give less padding
            but less random batches. Defaults to ``50 * batch_size``.
        generator: Source of randomness, advanced by every epoch; ``None`` uses torch's
            global generator.

    Raises:
        ValueError: If ``batch_size`` or ``bucket_size`` is below 1, or a length is
            negative.

    Example:
        >>> sampler = LengthBucketSampler([5, 1, 4, 2, 3], 2, shuffle=False)
        >>> list(sampler)
        [[1, 3], [4, 2], [0]]
        >>> len(sampler)
        3
        >>> sampler = LengthBucketSampler([5, 1, 4, 2, 3], 2, generator=torch.Generator())
        >>> sorted(i for batch in sampler for i in batch)
        [0, 1, 2, 3, 4]
    """

    batch_size: int
    shuffle: bool
    drop_last: bool
    bucket_size: int
    generator: torch.Generator | None
    _lengths: torch.Tensor

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        bucket_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bucket_size is None:
            bucket_size = 50 * batch_size
        if bucket_size < 1:
            raise ValueError(f"bucket_size must be at least 1, got {bucket_size}")
        for index, length in enumerate(lengths):
            if length < 0:
                raise ValueError(f"lengths must be non-negative, got {length} at index {index}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.bucket_size = bucket_size
        self.generator = generator
        self._lengths = torch.as_tensor(list(lengths), dtype=torch.int64)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        num_examples = len(self._lengths)
        if self.drop_last:
            return num_examples // self.batch_size
        return -(-num_examples // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        """Yield the batches of one epoch, each a list of indices."""
        num_examples = len(self._lengths)
        if num_examples == 0:
            return
        if self.shuffle:
            order = torch.randperm(num_examples, generator=self.generator)
        else:
            order = torch.arange(num_examples)
        buckets = [
            bucket[torch.sort(self._lengths[bucket], stable=True).indices]
            for bucket in torch.split(order, self.bucket_size)
        ]
        batches = list(torch.split(torch.cat(buckets), self.batch_size))
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batch_order = torch.randperm(len(batches), generator=self.generator).tolist()
            batches = [batches[i] for i in batch_order]
        for batch in batches:
            yield batch.tolist()
