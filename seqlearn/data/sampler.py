"""A batch sampler that groups sequences of similar length, so batches need little padding."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized

import torch
from torch.utils.data import Sampler
from typing_extensions import final

from seqlearn._checks import check_int

__all__ = ["LengthBucketSampler"]


@final
class LengthBucketSampler(Sampler[list[int]]):
    """Yield batches of indices whose sequences have similar lengths.

    Each epoch the indices are shuffled and cut into buckets of ``bucket_size``; each
    bucket is sorted by length, longest first (a stable sort, so equal lengths keep the
    shuffled order), which is the order packed sequences want, so
    :class:`~seqlearn.nn.Recurrent` packs such batches without reordering their rows.
    The sorted buckets, laid end to end, are cut into batches of ``batch_size``, and the
    order of the batches is shuffled. Only the last batch cut can be short (it is dropped
    when ``drop_last``), and when ``bucket_size`` is a multiple of ``batch_size`` (as by
    default) no batch spans two buckets.

    With ``shuffle=False`` nothing is random: buckets are runs of consecutive indices, and
    batches come in order, sorted by length (longest first) within each bucket.

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
        TypeError: If ``batch_size``, ``bucket_size`` or a length is not an int.
        ValueError: If ``batch_size`` or ``bucket_size`` is below 1, or a length is
            negative.

    Example:
        >>> sampler = LengthBucketSampler([5, 1, 4, 2, 3], 2, shuffle=False)
        >>> list(sampler)
        [[0, 2], [4, 3], [1]]
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
        batch_size = check_int("batch_size", batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bucket_size is None:
            bucket_size = 50 * batch_size
        bucket_size = check_int("bucket_size", bucket_size)
        if bucket_size < 1:
            raise ValueError(f"bucket_size must be at least 1, got {bucket_size}")
        if isinstance(lengths, str):
            raise TypeError(f"lengths must be a sequence of ints, got the str {lengths!r}")
        checked = [check_int(f"lengths[{index}]", length) for index, length in enumerate(lengths)]
        for index, length in enumerate(checked):
            if length < 0:
                raise ValueError(f"lengths must be non-negative, got {length} at index {index}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.bucket_size = bucket_size
        self.generator = generator
        self._lengths = torch.as_tensor(checked, dtype=torch.int64)

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
            bucket[torch.sort(self._lengths[bucket], descending=True, stable=True).indices]
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


@final
class ShardedBatchSampler(Sampler[list[int]]):
    """Each process's share of every batch of another batch sampler, for multi-process runs.

    Every process iterates the same global batches (the wrapped sampler must draw the same
    order everywhere: seed it, or let a seeded :class:`~seqlearn.train.Trainer` seed the
    default generator) and keeps the rows ``rank, rank + world_size, ...`` of each. Together
    the processes see exactly the global batches a single process would, so training with
    :class:`~torch.nn.parallel.DistributedDataParallel` follows the same steps. A global
    batch with fewer rows than processes is skipped everywhere (every process must take
    part in every step); use batches of at least ``world_size`` rows to lose nothing.

    Args:
        batch_sampler: The sampler of global batches, e.g. a :class:`LengthBucketSampler`.
        num_replicas: Number of processes; defaults to the process group's world size.
        rank: This process's rank; defaults to the process group's rank.

    Raises:
        TypeError: If ``num_replicas`` or ``rank`` is not an int.
        ValueError: If ``rank`` is not in ``[0, num_replicas)``.

    Example:
        >>> shards = ShardedBatchSampler([[0, 1, 2, 3, 4], [5]], num_replicas=2, rank=1)
        >>> list(shards)
        [[1, 3]]
    """

    def __init__(
        self,
        batch_sampler: Iterable[list[int]],
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        group = torch.distributed.is_available() and torch.distributed.is_initialized()
        if num_replicas is None:
            num_replicas = torch.distributed.get_world_size() if group else 1
        if rank is None:
            rank = torch.distributed.get_rank() if group else 0
        num_replicas, rank = check_int("num_replicas", num_replicas), check_int("rank", rank)
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank must be in [0, num_replicas), got rank={rank!r}, "
                f"num_replicas={num_replicas!r}"
            )
        self.batch_sampler = batch_sampler
        self.num_replicas = num_replicas
        self.rank = rank

    def __len__(self) -> int:
        """The number of global batches of the wrapped sampler (an upper bound)."""
        if not isinstance(self.batch_sampler, Sized):
            raise TypeError("the wrapped batch sampler has no length")
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[list[int]]:
        """This process's rows of each global batch."""
        for batch in self.batch_sampler:
            rows = list(batch)
            if len(rows) >= self.num_replicas:
                yield rows[self.rank :: self.num_replicas]
