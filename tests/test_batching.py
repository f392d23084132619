from __future__ import annotations

import pickle
import random

import pytest
import torch
import torch.nn.functional as F

from seqlearn.data.batching import (
    IGNORE_INDEX,
    ClassificationBatch,
    NextTokenBatch,
    NextTokenCollator,
    collate_classification,
    collate_next_token,
    pad_sequences,
)


def _random_sequences(seed: int, count: int = 20, max_len: int = 9) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(1, 30) for _ in range(rng.randrange(max_len + 1))] for _ in range(count)]


def _pad_reference(sequences: list[list[int]], value: int) -> tuple[list[list[int]], list[int]]:
    width = max(len(seq) for seq in sequences)
    rows = []
    for seq in sequences:
        row = [value] * width
        for t, token in enumerate(seq):
            row[t] = token
        rows.append(row)
    return rows, [len(seq) for seq in sequences]


# pad_sequences


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("value", [0, -1, 7])
def test_pad_sequences_matches_loop(seed: int, value: int) -> None:
    sequences = _random_sequences(seed)
    padded, lengths = pad_sequences(sequences, padding_value=value)
    rows, expected_lengths = _pad_reference(sequences, value)
    assert padded.dtype == torch.int64
    assert lengths.dtype == torch.int64
    assert padded.tolist() == rows
    assert lengths.tolist() == expected_lengths


def test_pad_sequences_accepts_tensors_and_mixed() -> None:
    sequences: list[list[int] | torch.Tensor] = [
        torch.tensor([1, 2, 3], dtype=torch.int32),
        [4],
        torch.tensor([], dtype=torch.int64),
    ]
    padded, lengths = pad_sequences(sequences, padding_value=9)
    assert padded.tolist() == [[1, 2, 3], [4, 9, 9], [9, 9, 9]]
    assert padded.dtype == torch.int64
    assert lengths.tolist() == [3, 1, 0]


def test_pad_sequences_all_empty() -> None:
    padded, lengths = pad_sequences([[], []])
    assert padded.shape == (2, 0)
    assert lengths.tolist() == [0, 0]


def test_pad_sequences_empty_batch() -> None:
    with pytest.raises(ValueError, match="empty list"):
        pad_sequences([])


def test_pad_sequences_rejects_2d() -> None:
    with pytest.raises(ValueError, match=r"position 1, got shape \(2, 2\)"):
        pad_sequences([[1], torch.zeros(2, 2, dtype=torch.int64)])


def test_pad_sequences_rejects_floats() -> None:
    with pytest.raises(TypeError, match=r"position 0, got torch\.float32"):
        pad_sequences([torch.tensor([1.5])])


# collate_next_token


def _next_token_reference(
    examples: list[tuple[list[int], int]], eos_id: int, bos_id: int | None, pad_id: int
) -> tuple[list[list[int]], list[int], list[list[int]], list[int]]:
    inputs, targets = [], []
    for ids, _ in examples:
        if bos_id is None:
            inputs.append(list(ids))
            targets.append([*ids[1:], eos_id])
        else:
            inputs.append([bos_id, *ids])
            targets.append([*ids, eos_id])
    width = max(len(row) for row in inputs)
    padded_inputs = [row + [pad_id] * (width - len(row)) for row in inputs]
    padded_targets = [row + [IGNORE_INDEX] * (width - len(row)) for row in targets]
    lengths = [len(row) for row in inputs]
    return padded_inputs, lengths, padded_targets, [c for _, c in examples]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("bos_id", [None, 30])
def test_collate_next_token_matches_reference(seed: int, bos_id: int | None) -> None:
    sequences = _random_sequences(seed)
    if bos_id is None:
        sequences = [seq or [1] for seq in sequences]
    examples = [(seq, i % 4) for i, seq in enumerate(sequences)]
    batch = collate_next_token(examples, eos_id=31, bos_id=bos_id, pad_id=0)
    inputs, lengths, targets, categories = _next_token_reference(examples, 31, bos_id, 0)
    assert isinstance(batch, NextTokenBatch)
    for tensor in batch:
        assert tensor.dtype == torch.int64
    assert batch.inputs.tolist() == inputs
    assert batch.lengths.tolist() == lengths
    assert batch.targets.tolist() == targets
    assert batch.categories.tolist() == categories


def test_collate_next_token_without_bos_shifts_ids() -> None:
    batch = collate_next_token([([5, 6, 7], 2), ([8], 0)], eos_id=1, pad_id=0)
    assert batch.inputs.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch.targets.tolist() == [[6, 7, 1], [1, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch.lengths.tolist() == [3, 1]
    assert batch.categories.tolist() == [2, 0]


def test_collate_next_token_with_bos_predicts_first_id() -> None:
    batch = collate_next_token([([5, 6], 0), ([], 1)], eos_id=1, bos_id=2, pad_id=0)
    assert batch.inputs.tolist() == [[2, 5, 6], [2, 0, 0]]
    assert batch.targets.tolist() == [[5, 6, 1], [1, IGNORE_INDEX, IGNORE_INDEX]]
    assert batch.lengths.tolist() == [3, 1]


def test_padding_is_ignored_by_cross_entropy() -> None:
    batch = collate_next_token([([3, 4, 5], 0), ([6], 0)], eos_id=1)
    logits = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))  # (B, T, V)
    loss = F.cross_entropy(logits.transpose(1, 2), batch.targets)
    valid = batch.targets != IGNORE_INDEX
    expected = F.cross_entropy(logits[valid], batch.targets[valid])
    torch.testing.assert_close(loss, expected)


def test_collate_next_token_empty_ids_without_bos() -> None:
    with pytest.raises(ValueError, match="position 1"):
        collate_next_token([([3], 0), ([], 0)], eos_id=1)


def test_collate_next_token_empty_batch() -> None:
    with pytest.raises(ValueError, match="empty list"):
        collate_next_token([], eos_id=1)


def test_batch_to_keeps_type_and_values() -> None:
    batch = collate_next_token([([3, 4], 1)], eos_id=1)
    moved = batch.to(torch.device("cpu"))
    assert isinstance(moved, NextTokenBatch)
    for before, after in zip(batch, moved, strict=True):
        assert torch.equal(before, after)


def test_collator_matches_function_and_pickles() -> None:
    collate = NextTokenCollator(eos_id=31, bos_id=30, pad_id=0)
    restored = pickle.loads(pickle.dumps(collate))
    assert restored == collate
    examples = [(seq, 0) for seq in _random_sequences(3)]
    expected = collate_next_token(examples, eos_id=31, bos_id=30, pad_id=0)
    for got, want in zip(restored(examples), expected, strict=True):
        assert torch.equal(got, want)


def test_collator_works_in_data_loader() -> None:
    examples = [(seq or [1], i % 3) for i, seq in enumerate(_random_sequences(4))]
    loader: torch.utils.data.DataLoader[tuple[list[int], int]] = torch.utils.data.DataLoader(
        examples,  # type: ignore[arg-type]
        batch_size=8,
        collate_fn=NextTokenCollator(eos_id=31),
    )
    batches = list(loader)
    assert sum(len(batch.lengths) for batch in batches) == len(examples)
    assert all(isinstance(batch, NextTokenBatch) for batch in batches)


# collate_classification


@pytest.mark.parametrize("seed", range(3))
def test_collate_classification_matches_reference(seed: int) -> None:
    sequences = [seq or [1] for seq in _random_sequences(seed)]
    examples = [(seq, i % 5) for i, seq in enumerate(sequences)]
    batch = collate_classification(examples, pad_id=-1)
    rows, lengths = _pad_reference(sequences, -1)
    assert isinstance(batch, ClassificationBatch)
    assert batch.inputs.tolist() == rows
    assert batch.lengths.tolist() == lengths
    assert batch.labels.tolist() == [label for _, label in examples]
    assert isinstance(batch.to("cpu"), ClassificationBatch)


def test_collate_classification_errors() -> None:
    with pytest.raises(ValueError, match="empty list"):
        collate_classification([])
    with pytest.raises(ValueError, match="position 2"):
        collate_classification([([1], 0), ([2], 0), ([], 1)])
