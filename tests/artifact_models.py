"""Every kind of model the artifact tests save and load, with inputs to run them on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

import seqlearn
from seqlearn.nn import (
    AttentionPooling,
    Bidirectional,
    Cell,
    ConditionalLM,
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormLSTMCell,
    LearnedInitialState,
    LinearRecurrentCell,
    LSTMCell,
    Recurrent,
    SequenceClassifier,
    StackedCell,
    StackedLayers,
    WeightDrop,
    glove_embedding,
    last_valid,
    lecture_classifier,
    lecture_generator,
    max_pool,
    mean_pool,
)
from seqlearn.tokenize import CharTokenizer, GloVe, WordTokenizer

V = 59  # the lecture's letters and EOS


@seqlearn.register("tests.ConcatCell")
class ConcatCell(Cell[Tensor]):
    """The custom cell of the cells page: ``h_t = tanh(W [x_t; h_{t-1}] + b)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.tanh(self.linear(torch.cat((x, state), dim=-1)))  # (B, H)
        return h, h

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _bigru() -> nn.Module:
    g = _generator()
    encoder = Bidirectional(GRUCell(16, 24, generator=g), GRUCell(16, 24, generator=g))
    return SequenceClassifier(
        encoder, vocab_size=V, num_classes=5, embedding_dim=16, pooling=max_pool, dropout=0.3
    )


def _stacked_bidirectional() -> nn.Module:
    g = _generator()
    forward = StackedCell(
        [LSTMCell(12, 20, proj_size=10, generator=g), GRUCell(10, 10, generator=g)],
        dropout=0.2,
        residual=True,
    )
    backward = LearnedInitialState(LayerNormLSTMCell(12, 8, generator=g))
    return SequenceClassifier(
        Bidirectional(forward, backward),
        vocab_size=V,
        num_classes=4,
        embedding_dim=12,
        pooling=AttentionPooling(18, generator=g),
    )


def _deep_bidirectional() -> nn.Module:
    g = _generator()
    layers = [
        Bidirectional(GRUCell(10, 6, generator=g), GRUCell(10, 6, generator=g)),
        Bidirectional(
            Recurrent(LSTMCell(12, 5, generator=g)),
            Recurrent(GRUCell(12, 5, generator=g), reverse=True),
        ),
    ]
    return SequenceClassifier(
        StackedLayers(layers, dropout=0.1), vocab_size=V, num_classes=3, embedding_dim=10,
        pooling=max_pool,
    )  # fmt: skip


def _indrnn_elman() -> nn.Module:
    g = _generator()
    stack = StackedCell([IndRNNCell(8, 16, generator=g), ElmanCell(16, 16, generator=g)])
    return SequenceClassifier(
        Recurrent(stack, fused=False), vocab_size=V, num_classes=3, embedding_dim=8,
        pooling=mean_pool,
    )  # fmt: skip


def _custom_cell() -> nn.Module:
    return SequenceClassifier(
        Recurrent(ConcatCell(10, 12)), vocab_size=V, num_classes=3, embedding_dim=10
    )


WORDS = ["a", "good", "bad", "film", "movie", "dull", "great", "not"]


def word_tokenizer() -> WordTokenizer:
    return WordTokenizer.from_texts([" ".join(WORDS), "an unseen word"])


def _glove_sentiment(freeze: bool) -> nn.Module:
    g = _generator()
    tokenizer = word_tokenizer()
    vectors = GloVe(WORDS, torch.randn(len(WORDS), 6, generator=g))
    embedding = glove_embedding(vectors, tokenizer.vocabulary, oov="random", freeze=freeze)
    if freeze:  # the lecture's RNN over frozen vectors
        cell = LinearRecurrentCell(6, 9, generator=g)
        return SequenceClassifier(
            Recurrent(cell), vocab_size=tokenizer.vocab_size, num_classes=5,
            embedding=embedding, readout="input_and_previous_output", pooling=last_valid,
        )  # fmt: skip
    encoder = Bidirectional(GRUCell(6, 7, generator=g), GRUCell(6, 7, generator=g))
    return SequenceClassifier(
        encoder, vocab_size=tokenizer.vocab_size, num_classes=5, embedding=embedding,
        pooling=max_pool, embedding_dropout=0.2, dropout=0.1,
    )  # fmt: skip


def _lstm_generator() -> nn.Module:
    g = _generator()
    stack = StackedCell(
        [LSTMCell(4 + 16, 32, generator=g), LSTMCell(32, 32, generator=g)], dropout=0.1
    )
    return ConditionalLM(
        stack, vocab_size=V, num_categories=3, embedding_dim=16, category_dim=4, dropout=0.2,
        generator=g,
    )  # fmt: skip


def _awd_generator() -> nn.Module:
    """Every AWD-LSTM regulariser: weight-drop, locked and word dropout, tied weights."""
    g = _generator()
    cells = [WeightDrop(LSTMCell(4 + 32, 32, generator=g), 0.3, generator=g)]
    cells.append(WeightDrop(LSTMCell(32, 32, generator=g), 0.3, generator=g))
    return ConditionalLM(
        StackedCell(cells), vocab_size=V, num_categories=3, embedding_dim=32, category_dim=4,
        dropout=0.2, locked_dropout=True, word_dropout=0.1, tie_weights=True, generator=g,
    )  # fmt: skip


def _gru_generator() -> nn.Module:
    g = _generator()
    return ConditionalLM(
        GRUCell(3 + 8, 16, generator=g), vocab_size=V, num_categories=3, embedding_dim=8
    )


CLASSIFIERS: dict[str, Callable[[], nn.Module]] = {
    "lecture-classifier": lambda: lecture_classifier(num_classes=4, generator=_generator()),
    "bigru-max-pooled": _bigru,
    "stacked-bidirectional-attention": _stacked_bidirectional,
    "deep-bidirectional-layers": _deep_bidirectional,
    "indrnn-elman-mean-pooled": _indrnn_elman,
    "custom-cell": _custom_cell,
    "glove-sentiment-fine-tuned": lambda: _glove_sentiment(freeze=False),
    "glove-sentiment-lecture": lambda: _glove_sentiment(freeze=True),
}

GENERATORS: dict[str, Callable[[], nn.Module]] = {
    "lecture-generator": lambda: lecture_generator(num_categories=3, generator=_generator()),
    "lstm-stack-generator": _lstm_generator,
    "gru-generator": _gru_generator,
    "awd-lstm-generator": _awd_generator,
}

NAMES = ["Nguyen", "Schmidt", "Ab", "Papadopoulos", "O'Neill", "Li", "Zhang", "Abe"]
PHRASES = ["a good film", "not a good movie", "dull", "great great film", "an unseen word"]


def tokenizer_for(kind: str) -> Any:
    return word_tokenizer() if kind.startswith("glove") else CharTokenizer(oov="drop")


def inputs_for(kind: str) -> tuple[Tensor, ...]:
    """Fixed inputs: ``(tokens, lengths)`` for classifiers, plus categories for generators."""
    texts = PHRASES if kind.startswith("glove") else NAMES
    tokens, lengths = tokenizer_for(kind).encode_batch(texts)
    if kind in GENERATORS:
        return tokens, lengths, torch.arange(len(texts)) % 3
    return tokens, lengths


def predictor_for(kind: str, model: nn.Module) -> Any:
    tokenizer = tokenizer_for(kind)
    if kind in GENERATORS:
        return seqlearn.TextGenerator(model, tokenizer, ["English", "French", "German"])
    width = model(*inputs_for(kind)).size(-1)
    return seqlearn.TextClassifier(model, tokenizer, [f"class {i}" for i in range(width)])


def train_a_little(model: nn.Module, kind: str) -> None:
    """A few optimiser steps, so saved weights differ from freshly built ones."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        model(*inputs_for(kind)).sum().backward()
        optimizer.step()
    model.eval()
