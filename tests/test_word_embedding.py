"""Tests for seqlearn.nn.word_embedding: embeddings from GloVe vectors and their coverage."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlearn.nn import Coverage, coverage, glove_embedding, word_embedding
from seqlearn.tokenize import GloVe, Vocabulary

MATRIX = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0], [-7.0, 8.0, 9.5], [0.5, 0.0, -1.0]])
VECTORS = GloVe(["the", "cat", "sat", "mat"], MATRIX.astype(np.float32))
VOCAB = Vocabulary(["cat", "dog", "the", "emu"])  # <pad> 0, <unk> 1, cat 2, dog 3, the 4, emu 5


def test_rows_are_copied_and_pad_is_zeros() -> None:
    embedding = glove_embedding(VECTORS, VOCAB)
    weight = embedding.weight
    assert weight.shape == (6, 3) and weight.dtype == torch.float32
    assert torch.equal(weight[2], VECTORS["cat"]) and torch.equal(weight[4], VECTORS["the"])
    assert torch.equal(weight[0], torch.zeros(3))
    assert embedding.padding_idx == 0
    assert not weight.requires_grad


def test_zeros_policy() -> None:
    weight = glove_embedding(VECTORS, VOCAB, oov="zeros").weight
    for i in (0, 1, 3, 5):  # pad, unk, dog, emu
        assert torch.equal(weight[i], torch.zeros(3))


def test_mean_policy_is_the_mean_of_all_vectors() -> None:
    weight = glove_embedding(VECTORS, VOCAB, oov="mean").weight
    mean = torch.tensor(MATRIX.mean(axis=0), dtype=torch.float32)
    for i in (1, 3, 5):
        assert torch.allclose(weight[i], mean, atol=1e-6)
    assert torch.equal(weight[0], torch.zeros(3))


def test_random_policy_draws_from_the_generator_scaled_to_the_std() -> None:
    weight = glove_embedding(
        VECTORS, VOCAB, oov="random", generator=torch.Generator().manual_seed(3)
    ).weight
    std = float(np.std(MATRIX))
    expected = torch.randn(3, 3, generator=torch.Generator().manual_seed(3)) * std
    assert torch.allclose(weight[[1, 3, 5]], expected, atol=1e-6)  # unk, dog, emu in id order
    again = glove_embedding(
        VECTORS, VOCAB, oov="random", generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(again.weight, weight)
    assert torch.equal(weight[0], torch.zeros(3))


def test_random_policy_has_the_vectors_spread() -> None:
    generator = np.random.default_rng(0)
    vectors = GloVe([f"w{i}" for i in range(500)], 0.4 * generator.standard_normal((500, 50)))
    vocab = Vocabulary([f"x{i}" for i in range(2000)])  # none of them in the vectors
    embedding = glove_embedding(
        vectors, vocab, oov="random", generator=torch.Generator().manual_seed(0)
    )
    drawn = embedding.weight[2:].detach().double()
    assert abs(float(drawn.mean())) < 0.01
    assert float(drawn.std()) == pytest.approx(vectors.std(), rel=0.01)


def test_trainable_embedding_keeps_pad_fixed() -> None:
    embedding = glove_embedding(VECTORS, VOCAB, freeze=False)
    assert embedding.weight.requires_grad
    embedding(torch.tensor([[0, 2, 5]])).sum().backward()
    grad = embedding.weight.grad
    assert grad is not None
    assert torch.equal(grad[0], torch.zeros(3)) and torch.equal(grad[2], torch.ones(3))


def test_vocabulary_without_pad() -> None:
    vocab = Vocabulary(["mat", "zebra"], pad=None)  # <unk> 0, mat 1, zebra 2
    embedding = glove_embedding(VECTORS, vocab, oov="mean")
    assert embedding.padding_idx is None
    assert torch.equal(embedding.weight[1], VECTORS["mat"])
    assert torch.allclose(embedding.weight[0], VECTORS.mean()) and torch.allclose(
        embedding.weight[2], VECTORS.mean()
    )


def test_specials_are_never_looked_up() -> None:
    vectors = GloVe(["<unk>", "<pad>", "a"], torch.ones(3, 2))
    weight = glove_embedding(vectors, Vocabulary(["a"])).weight
    assert weight.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="oov must be one of"):
        glove_embedding(VECTORS, VOCAB, oov="uniform")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected GloVe vectors"):
        glove_embedding({"a": torch.zeros(2)}, VOCAB)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a Vocabulary"):
        glove_embedding(VECTORS, ["cat"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="freeze must be a bool"):
        glove_embedding(VECTORS, VOCAB, freeze=0)  # type: ignore[arg-type]
    empty = GloVe([], torch.zeros(0, 3))
    assert glove_embedding(empty, VOCAB).weight.abs().sum() == 0
    with pytest.raises(ValueError, match="no vectors"):
        glove_embedding(empty, VOCAB, oov="mean")


# Coverage --------------------------------------------------------------------------------------


def test_coverage_of_types_and_tokens() -> None:
    result = coverage(VECTORS, VOCAB)
    assert result == Coverage(type_share=0.5, token_share=None, missing=("dog", "emu"))
    corpus = [["the", "cat", "dog", "the"], ["zebra", "<pad>", "emu"], [], ["sat", "cat"]]
    # covered tokens: the, cat, the, cat (sat is no word of the vocabulary): 4 of 9
    result = coverage(VECTORS, VOCAB, corpus)
    assert result.type_share == 0.5 and result.token_share == pytest.approx(4 / 9)
    assert result.missing == ("dog", "emu")
    full = coverage(VECTORS, Vocabulary(["the", "mat"]), iter([["the", "mat"]]))
    assert full == Coverage(1.0, 1.0, ())


def test_coverage_errors() -> None:
    with pytest.raises(ValueError, match="no words"):
        coverage(VECTORS, Vocabulary([]))
    with pytest.raises(ValueError, match="no tokens"):
        coverage(VECTORS, VOCAB, [[], []])
    with pytest.raises(TypeError, match="text 0 is a str"):
        coverage(VECTORS, VOCAB, ["the cat"])


def test_nn_imports_tokenize_but_not_data_or_train() -> None:
    source = Path(word_embedding.__file__).read_text(encoding="utf-8")
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    seqlearn_modules = {name for name in imported if name.startswith("seqlearn")}
    assert seqlearn_modules == {"seqlearn.tokenize.glove", "seqlearn.tokenize.vocab"}
