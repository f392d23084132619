from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from seqlearn.data.split import stratified_split


def _labels(seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    sizes = {0: 100, 1: 37, 2: 1, 3: 2, 4: 3, 5: 8, 6: 250}
    labels = [label for label, size in sizes.items() for _ in range(size)]
    rng.shuffle(labels)
    return labels


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.2, 0.5, 0.9])
def test_sizes_per_label_are_rounded_fraction(fraction: float) -> None:
    labels = _labels()
    train, valid = stratified_split(labels, fraction, generator=_gen(0))
    counts = Counter(labels)
    valid_counts = Counter(labels[i] for i in valid)
    train_counts = Counter(labels[i] for i in train)
    for label, n in counts.items():
        assert valid_counts[label] == round(n * fraction)
        assert train_counts[label] == n - round(n * fraction)


def test_disjoint_covering_and_sorted() -> None:
    labels = _labels()
    train, valid = stratified_split(labels, 0.2, generator=_gen(1))
    assert set(train).isdisjoint(valid)
    assert sorted(train + valid) == list(range(len(labels)))
    assert train == sorted(train)
    assert valid == sorted(valid)


def test_reproducible_with_same_seed_and_different_with_another() -> None:
    labels = _labels()
    first = stratified_split(labels, 0.2, generator=_gen(7))
    second = stratified_split(labels, 0.2, generator=_gen(7))
    other = stratified_split(labels, 0.2, generator=_gen(8))
    assert first == second
    assert first != other


def test_small_classes() -> None:
    # One example: round(0.2) == 0 keeps it in training; round(0.6) == 1 moves it out.
    assert stratified_split([3], 0.2, generator=_gen(0)) == ([0], [])
    assert stratified_split([3], 0.6, generator=_gen(0)) == ([], [0])
    # Halves round to even: round(0.5) == 0, round(1.5) == 2.
    assert stratified_split([1], 0.5, generator=_gen(0)) == ([0], [])
    assert len(stratified_split([1, 1, 1], 0.5, generator=_gen(0))[1]) == 2


def test_accepts_integer_tensor_labels() -> None:
    labels = _labels()
    expected = stratified_split(labels, 0.2, generator=_gen(3))
    got = stratified_split(list(torch.tensor(labels)), 0.2, generator=_gen(3))
    assert got == expected


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=rf"valid_fraction.*got {fraction!r}"):
        stratified_split([0, 1], fraction)


def test_empty_labels() -> None:
    with pytest.raises(ValueError, match="empty"):
        stratified_split([], 0.2)


def test_non_integer_label() -> None:
    with pytest.raises(TypeError):
        stratified_split([0, 1.5], 0.2)  # type: ignore[list-item]
