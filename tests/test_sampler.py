from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from seqlearn.data.sampler import LengthBucketSampler


def _random_lengths(seed: int, count: int = 1000) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, 100) for _ in range(count)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _padded_positions(batches: list[list[int]], lengths: list[int]) -> int:
    total = 0
    for batch in batches:
        batch_lengths = [lengths[i] for i in batch]
        total += max(batch_lengths) * len(batch) - sum(batch_lengths)
    return total


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(("count", "batch_size", "bucket_size"), [(1000, 32, None), (103, 8, 20)])
def test_covers_every_index_once(
    shuffle: bool, count: int, batch_size: int, bucket_size: int | None
) -> None:
    lengths = _random_lengths(0, count)
    sampler = LengthBucketSampler(
        lengths, batch_size, shuffle=shuffle, bucket_size=bucket_size, generator=_gen(0)
    )
    batches = list(sampler)
    assert len(batches) == len(sampler) == -(-count // batch_size)
    assert Counter(i for batch in batches for i in batch) == Counter(range(count))
    sizes = sorted(len(batch) for batch in batches)
    assert sizes[1:] == [batch_size] * (len(batches) - 1)
    assert sizes[0] == count - batch_size * (len(batches) - 1)


def test_drop_last() -> None:
    lengths = _random_lengths(1, 103)
    sampler = LengthBucketSampler(lengths, 10, drop_last=True, generator=_gen(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    assert all(len(batch) == 10 for batch in batches)
    seen = [i for batch in batches for i in batch]
    assert len(seen) == len(set(seen)) == 100


def test_drop_last_keeps_full_last_batch() -> None:
    sampler = LengthBucketSampler([1] * 20, 10, drop_last=True, generator=_gen(0))
    assert len(sampler) == len(list(sampler)) == 2


def test_reduces_padding_versus_random_batches() -> None:
    lengths = _random_lengths(2)
    batch_size = 32
    bucketed = list(LengthBucketSampler(lengths, batch_size, generator=_gen(0)))
    order = torch.randperm(len(lengths), generator=_gen(0)).tolist()
    random_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    assert _padded_positions(bucketed, lengths) < _padded_positions(random_batches, lengths) / 4


def test_batches_are_sorted_within_buckets() -> None:
    lengths = _random_lengths(3, 200)
    sampler = LengthBucketSampler(lengths, 10, bucket_size=200, generator=_gen(0))
    for batch in sampler:
        batch_lengths = [lengths[i] for i in batch]
        assert batch_lengths == sorted(batch_lengths, reverse=True)  # longest first


def test_reproducible_and_epochs_differ() -> None:
    lengths = _random_lengths(4, 300)
    first = LengthBucketSampler(lengths, 16, bucket_size=64, generator=_gen(5))
    second = LengthBucketSampler(lengths, 16, bucket_size=64, generator=_gen(5))
    first_epochs = [list(first) for _ in range(2)]
    second_epochs = [list(second) for _ in range(2)]
    assert first_epochs == second_epochs
    assert first_epochs[0] != first_epochs[1]
    other = LengthBucketSampler(lengths, 16, bucket_size=64, generator=_gen(6))
    assert list(other) != first_epochs[0]


def test_no_shuffle_is_deterministic_and_sorted_per_bucket() -> None:
    lengths = [5, 3, 3, 1, 9, 2, 0, 4]
    sampler = LengthBucketSampler(lengths, 2, shuffle=False, bucket_size=4)
    batches = list(sampler)
    assert batches == list(sampler)
    # Bucket [0..3] sorted longest first (stable): 0, 1, 2, 3; bucket [4..7]: 4, 7, 5, 6.
    assert batches == [[0, 1], [2, 3], [4, 7], [5, 6]]


def test_empty_lengths() -> None:
    sampler = LengthBucketSampler([], 4)
    assert len(sampler) == 0
    assert list(sampler) == []


def test_data_loader_batch_sampler() -> None:
    lengths = _random_lengths(5, 50)
    sampler = LengthBucketSampler(lengths, 8, generator=_gen(0))
    loader: torch.utils.data.DataLoader[int] = torch.utils.data.DataLoader(
        list(range(50)),  # type: ignore[arg-type]
        batch_sampler=sampler,
    )
    seen = sorted(i for batch in loader for i in batch.tolist())
    assert seen == list(range(50))


@pytest.mark.parametrize("batch_size", [0, -3])
def test_bad_batch_size(batch_size: int) -> None:
    with pytest.raises(ValueError, match=rf"batch_size.*got {batch_size}"):
        LengthBucketSampler([1, 2], batch_size)


def test_bad_bucket_size() -> None:
    with pytest.raises(ValueError, match=r"bucket_size.*got 0"):
        LengthBucketSampler([1, 2], 2, bucket_size=0)


def test_negative_length() -> None:
    with pytest.raises(ValueError, match=r"got -4 at index 2"):
        LengthBucketSampler([1, 2, -4], 2)
