"""benchmarks/ablations.py: the changes it makes to an example's model and data.

Each change is checked against a plain reference on tiny inputs; nothing here trains an
example, times anything or needs the data.
"""

from __future__ import annotations

import argparse
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from seqlearn.nn import (
    AttentionPooling,
    Bidirectional,
    GRUCell,
    SequenceClassifier,
    StackedLayers,
    max_pool,
)

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def ablations() -> dict[str, Any]:
    return runpy.run_path(str(BENCHMARKS / "ablations.py"))


def classifier(*, pretrained: bool) -> SequenceClassifier:
    g = torch.Generator().manual_seed(0)
    encoder = Bidirectional(GRUCell(6, 5, generator=g), GRUCell(6, 5, generator=g))
    parts: dict[str, Any] = {"embedding": nn.Embedding(11, 6)} if pretrained else {}
    return SequenceClassifier(
        encoder,
        vocab_size=11,
        num_classes=3,
        embedding_dim=None if pretrained else 6,
        pooling=max_pool,
        dropout=0.4,
        embedding_dropout=0.1,
        generator=g,
        **parts,
    )


def flags_for(**changes: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {
        "label_smoothing": 0.0,
        "weight_drop": 0.0,
        "widen_embedding": 0,
        "oversample_sentences": 0,
        "model_seed": None,
        "two_layers": None,
        "locked": False,
        "pooling": None,
        "word_dropout": None,
        "embedding_dropout": None,
    }
    return argparse.Namespace(**{**defaults, **changes})


def test_pooled_side_by_side_equal_their_parts(ablations: dict[str, Any]) -> None:
    outputs = torch.randn(2, 4, 6)
    lengths = torch.tensor([4, 2])
    both = ablations["max_and_mean"](outputs, lengths)
    assert both.shape == (2, 12)
    for row, length in enumerate(lengths.tolist()):
        valid = outputs[row, :length]
        torch.testing.assert_close(both[row, :6], valid.max(0).values)
        torch.testing.assert_close(both[row, 6:], valid.mean(0))
    final = ablations["max_and_final"](outputs, lengths)
    for row, length in enumerate(lengths.tolist()):
        forward, backward = outputs[row, length - 1, :3], outputs[row, 0, 3:]
        torch.testing.assert_close(final[row, 6:], torch.cat((forward, backward)))


@pytest.mark.parametrize("pretrained", [True, False])
def test_rebuilt_keeps_the_parts_it_does_not_change(
    ablations: dict[str, Any], pretrained: bool
) -> None:
    model = classifier(pretrained=pretrained)
    wide = ablations["rebuilt"](model, 0, pooling=ablations["max_and_mean"], hidden_size=20)
    assert wide.encoder is model.encoder
    assert (wide.token_embedding is model.token_embedding) == pretrained
    assert (wide.dropout, wide.embedding_dropout, wide.hidden_size) == (0.4, 0.1, 20)
    inputs, lengths = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
    assert wide(inputs, lengths).shape == (2, 3)


def test_model_changes_reach_the_built_model(ablations: dict[str, Any]) -> None:
    seeds: list[int] = []

    def build_model(flags: argparse.Namespace, vocab_size: int, num_classes: int) -> Any:
        seeds.append(flags.seed)
        return classifier(pretrained=False)

    example: dict[str, Any] = {"build_model": build_model}
    change = flags_for(two_layers=0.3, locked=True, pooling="attention", model_seed=7)
    ablations["change"](example, change)
    flags = argparse.Namespace(seed=0, hidden_size=4)
    model = example["build_model"](flags, 11, 3)
    assert seeds == [7] and flags.seed == 0  # the split's seed is left alone
    assert isinstance(model.encoder, StackedLayers)
    assert model.encoder.locked and model.encoder.dropout == 0.3
    assert model.encoder.output_size == 8  # two directions of --hidden-size 4
    assert isinstance(model.pooling, AttentionPooling) and model.hidden_size == 8
    assert model(torch.tensor([[1, 2, 3]]), torch.tensor([3])).shape == (1, 3)


class Phrases:
    def __init__(self, items: list[tuple[list[int], int, bool]]) -> None:
        self.items = items

    def sentences(self) -> Phrases:
        return Phrases([item for item in self.items if item[2]])


def test_oversampling_adds_copies_of_the_training_sentences(ablations: dict[str, Any]) -> None:
    def encode(phrases: Phrases, tokenizer: Any) -> tuple[list[Any], list[int]]:
        examples = [(ids, label) for ids, label, _ in phrases.items]
        return examples, list(range(len(examples)))

    example: dict[str, Any] = {"encode": encode, "build_model": lambda *a: None}
    ablations["change"](example, flags_for(oversample_sentences=2))
    train = Phrases([([1, 2], 0, True), ([2], 1, False), ([3, 4], 2, True)])
    examples, kept = example["encode"](train, None)
    sentences = [([1, 2], 0), ([3, 4], 2)]
    assert examples == [([1, 2], 0), ([2], 1), ([3, 4], 2), *sentences, *sentences]
    assert kept == [0, 1, 2]
    assert example["encode"](train, None)[0] == [([1, 2], 0), ([2], 1), ([3, 4], 2)]


def test_widened_embedding_keeps_the_vectors_and_their_trainability(
    ablations: dict[str, Any],
) -> None:
    vectors = nn.Embedding(5, 3)
    vectors.weight.requires_grad_(False)
    example: dict[str, Any] = {"glove_embedding": lambda: vectors, "build_model": lambda *a: None}
    ablations["change"](example, flags_for(widen_embedding=4))
    wide = example["glove_embedding"]()
    assert wide.weight.shape == (5, 7) and not wide.weight.requires_grad
    torch.testing.assert_close(wide.weight[:, :3], vectors.weight)


def test_accuracy_counts_the_most_probable_class(ablations: dict[str, Any]) -> None:
    probabilities = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert ablations["accuracy"](probabilities, torch.tensor([1, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["names_classification", "--widen-embedding", "5"], "change sentiment only"),
        (["names_generation", "--ensemble", "a", "b"], "classifiers only"),
        (["names_classification", "--label-smoothing", "0.1"], "its own --label-smoothing"),
    ],
)
def test_the_command_line_refuses_changes_that_do_not_apply(argv: list[str], message: str) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "ablations.py"), *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and message in run.stderr
