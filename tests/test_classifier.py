"""SequenceClassifier and the lecture's RNNForClassification built from seqlearn parts."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor, nn

from seqlearn.data.batching import ClassificationBatch, collate_classification
from seqlearn.nn import Bidirectional, GRUCell, Recurrent
from seqlearn.nn.classifier import LinearRecurrentCell, SequenceClassifier, lecture_classifier
from seqlearn.nn.pooling import AttentionPooling, Pooling, last_valid, max_pool, mean_pool
from seqlearn.train import Trainer, classification_loss

VOCAB, CLASSES, HIDDEN = 59, 18, 16


class RNNForClassification(nn.Module):
    """The lecture's model, as written there (one example, one step at a time)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)

    def forward(self, inp: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        input_combined = torch.cat((inp, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        return output, hidden

    def init_hidden(self) -> Tensor:
        return torch.zeros(1, self.hidden_size)


def _lecture_logits(rnn: RNNForClassification, name: list[int]) -> Tensor:
    """The lecture's loop over one name's one-hot letters; the final output, ``(1, C)``."""
    hidden, output = rnn.init_hidden(), torch.empty(0)
    line = nn.functional.one_hot(torch.tensor(name), VOCAB).float().unsqueeze(1)  # (L, 1, V)
    for i in range(line.shape[0]):
        output, hidden = rnn(line[i], hidden)
    return output


def _names() -> list[list[int]]:
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in [5, 1, 9, 3, 9, 2]]


def _copied_pair() -> tuple[RNNForClassification, SequenceClassifier]:
    torch.manual_seed(0)
    rnn = RNNForClassification(VOCAB, HIDDEN, CLASSES)
    model = lecture_classifier(VOCAB, CLASSES, HIDDEN, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), rnn.parameters()):
            mine.copy_(theirs)
    return rnn, model


def test_lecture_classifier_has_the_lectures_parameter_shapes() -> None:
    rnn = RNNForClassification(VOCAB, HIDDEN, CLASSES)
    model = lecture_classifier(VOCAB, CLASSES, HIDDEN)
    assert [p.shape for p in model.parameters()] == [p.shape for p in rnn.parameters()]
    assert [tuple(p.shape) for p in lecture_classifier().parameters()] == [
        (128, 187),
        (128,),
        (18, 187),
        (18,),
    ]


def test_lecture_classifier_equals_the_lecture_on_a_padded_batch_with_gradients() -> None:
    rnn, model = _copied_pair()
    names = _names()
    labels = [3, 0, 17, 5, 5, 9]
    batch = collate_classification(list(zip(names, labels)), pad_id=7)
    logits = model(batch.inputs, batch.lengths)  # (B, C)
    expected = torch.cat([_lecture_logits(rnn, name) for name in names])
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    alone = torch.cat([model(torch.tensor([name]), torch.tensor([len(name)])) for name in names])
    torch.testing.assert_close(logits, alone, atol=1e-5, rtol=1e-5)

    total = nn.functional.cross_entropy(logits, batch.labels, reduction="sum")
    total.backward()  # type: ignore[no-untyped-call]
    for name, label in zip(names, labels):  # the lecture: one name, one loss, at a time
        loss = nn.functional.cross_entropy(_lecture_logits(rnn, name), torch.tensor([label]))
        loss.backward()  # type: ignore[no-untyped-call]
    for mine, theirs in zip(model.parameters(), rnn.parameters()):
        assert mine.grad is not None and theirs.grad is not None
        torch.testing.assert_close(mine.grad, theirs.grad, atol=1e-5, rtol=1e-5)


def test_linear_recurrent_cell_has_no_nonlinearity() -> None:
    cell = LinearRecurrentCell(3, 4, generator=torch.Generator().manual_seed(0))
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    y, new_h = cell(x, h)
    expected = torch.cat((x, h), dim=1) @ cell.weight.T + cell.bias
    torch.testing.assert_close(y, expected)
    assert y is new_h
    assert not Recurrent(cell).uses_fused_kernels


def _toy_batches(seed: int) -> list[ClassificationBatch]:
    """Class 0 names use tokens 1-2, class 1 names tokens 3-4; lengths 1-6, padded with 0."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for i in range(96):
        label = i % 2
        length = int(torch.randint(1, 7, (1,), generator=g))
        tokens = (torch.randint(1, 3, (length,), generator=g) + 2 * label).tolist()
        examples.append((tokens, label))
    return [collate_classification(examples[i : i + 16]) for i in range(0, 96, 16)]


POOLINGS: dict[str, Any] = {
    "last_valid": lambda: last_valid,
    "mean_pool": lambda: mean_pool,
    "max_pool": lambda: max_pool,
    "attention": lambda: AttentionPooling(12, generator=torch.Generator().manual_seed(2)),
}


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_gru_classifier_learns_a_separable_toy_task(name: str) -> None:
    pooling: Pooling | nn.Module = POOLINGS[name]()
    generator = torch.Generator().manual_seed(0)
    model = SequenceClassifier(
        Recurrent(GRUCell(8, 12, generator=generator)),
        vocab_size=5,
        num_classes=2,
        embedding_dim=8,
        pooling=pooling,
        dropout=0.1,
        generator=generator,
    )
    assert set(model.parameters()) >= set(
        pooling.parameters() if isinstance(pooling, nn.Module) else []
    )
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=0.03),
        classification_loss,
        progress=False,
        seed=0,
    )
    trainer.fit(_toy_batches(1), epochs=8)
    accuracy = trainer.validate(_toy_batches(2)).accuracy
    assert accuracy is not None and accuracy > 0.9, (name, accuracy)


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_padding_ids_never_change_logits(name: str) -> None:
    generator = torch.Generator().manual_seed(3)
    model = SequenceClassifier(
        Recurrent(GRUCell(5, 12, generator=generator)),
        vocab_size=5,
        num_classes=3,
        pooling=POOLINGS[name](),
        generator=generator,
    ).eval()
    inputs = torch.tensor([[1, 2, 3, 4], [4, 3, 0, 0], [2, 0, 0, 0]])
    lengths = torch.tensor([4, 2, 0])
    garbage = inputs.clone()
    garbage[1, 2:], garbage[2, :] = 4, -3  # out-of-range ids past the end are ignored
    torch.testing.assert_close(model(garbage, lengths), model(inputs, lengths))


class _TorchGRU(nn.Module):
    """Any module ``(x, lengths) -> (outputs, state)`` may be the encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(5, 6, batch_first=True)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        outputs, state = self.gru(x)
        return outputs, state


def test_any_encoder_module_with_a_given_hidden_size() -> None:
    model = SequenceClassifier(_TorchGRU(), vocab_size=5, num_classes=3, hidden_size=6)
    logits = model(torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([3, 1]))
    assert logits.shape == (2, 3)
    with pytest.raises(ValueError, match="hidden_size"):
        SequenceClassifier(_TorchGRU(), vocab_size=5, num_classes=3)


def test_default_hidden_size_follows_the_encoder_and_readout() -> None:
    encoder = Recurrent(GRUCell(7, 6))
    plain = SequenceClassifier(encoder, vocab_size=5, num_classes=3, embedding_dim=7)
    both = SequenceClassifier(
        encoder,
        vocab_size=5,
        num_classes=3,
        embedding_dim=7,
        readout="input_and_previous_output",
    )
    assert plain.head.in_features == 6 and both.head.in_features == 7 + 6


def test_bad_inputs_raise_errors_naming_them() -> None:
    model = SequenceClassifier(Recurrent(GRUCell(5, 4)), vocab_size=5, num_classes=3)
    with pytest.raises(ValueError, match="inputs"):
        model(torch.tensor([1, 2, 3]), torch.tensor([3]))
    with pytest.raises(ValueError, match="inputs"):
        model(torch.tensor([[1, 5]]), torch.tensor([2]))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.tensor([[1, 2]]), torch.tensor([2, 1]))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.tensor([[1, 2]]), torch.tensor([3]))
    with pytest.raises(TypeError, match="inputs"):
        model(torch.tensor([[1.0, 2.0]]), torch.tensor([2]))
    encoder = Recurrent(GRUCell(5, 4))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"vocab_size": 0, "num_classes": 3}, "vocab_size"),
        ({"vocab_size": 5, "num_classes": 0}, "num_classes"),
        ({"vocab_size": 5, "num_classes": 3, "dropout": 1.0}, "dropout"),
        ({"vocab_size": 5, "num_classes": 3, "embedding_dim": 8}, "input_size"),
        ({"vocab_size": 5, "num_classes": 3, "readout": "state"}, "readout"),
        ({"vocab_size": 5, "num_classes": 3, "hidden_size": 0}, "hidden_size"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            SequenceClassifier(encoder, **kwargs)


def test_a_bidirectional_encoder_gives_its_sizes() -> None:
    encoder = Bidirectional(GRUCell(8, 6), GRUCell(8, 6))
    model = SequenceClassifier(encoder, vocab_size=10, num_classes=3, embedding_dim=8)
    assert model.head.in_features == 12
    logits = model(torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([3, 1]))
    assert logits.shape == (2, 3)
    with pytest.raises(ValueError, match=r"input_size must be 5 .*got 8"):
        SequenceClassifier(encoder, vocab_size=10, num_classes=3, embedding_dim=5)


def test_a_given_embedding_is_used_and_kept_by_reset() -> None:

    embedding = torch.nn.Embedding(7, 3)
    embedding.weight.requires_grad_(False)  # frozen, as pretrained vectors often are
    before = embedding.weight.clone()
    model = SequenceClassifier(
        Recurrent(GRUCell(3, 4)), vocab_size=7, num_classes=2, embedding=embedding
    )
    assert model.token_embedding is embedding and model.input_size == 3
    model.reset_parameters()
    torch.testing.assert_close(embedding.weight, before, rtol=0, atol=0)
    assert not any(p is embedding.weight for p in model.parameters() if p.requires_grad)
    assert model(torch.tensor([[1, 2, 3]]), torch.tensor([3])).shape == (1, 2)


def test_bad_given_embeddings_are_refused() -> None:

    encoder = Recurrent(GRUCell(3, 4))
    with pytest.raises(ValueError, match="not both"):
        SequenceClassifier(
            encoder,
            vocab_size=7,
            num_classes=2,
            embedding_dim=3,
            embedding=torch.nn.Embedding(7, 3),
        )
    with pytest.raises(ValueError, match="vocab_size=8 rows"):
        SequenceClassifier(encoder, vocab_size=8, num_classes=2, embedding=torch.nn.Embedding(7, 3))
    with pytest.raises(ValueError, match="embedding_dropout"):
        SequenceClassifier(
            encoder, vocab_size=7, num_classes=2, embedding_dim=3, embedding_dropout=1.0
        )


def test_embedding_dropout_acts_in_training_only() -> None:

    model = SequenceClassifier(
        Recurrent(GRUCell(3, 4)),
        vocab_size=7,
        num_classes=2,
        embedding_dim=3,
        embedding_dropout=0.5,
    )
    inputs, lengths = torch.tensor([[1, 2, 3, 4]] * 8), torch.tensor([4] * 8)
    model.eval()
    torch.testing.assert_close(model(inputs, lengths), model(inputs, lengths))
    model.train()
    torch.manual_seed(0)
    first = model(inputs, lengths)
    assert not torch.allclose(first[0], first[1])  # identical rows, different masks


# pooling="final_state": the encoder's final state, without a gradient through the outputs


def _twins(encoder: nn.Module, pooling: Pooling) -> tuple[SequenceClassifier, SequenceClassifier]:
    fast = SequenceClassifier(encoder, vocab_size=20, num_classes=3, embedding_dim=5,
                              pooling="final_state")  # fmt: skip
    pooled = SequenceClassifier(encoder, vocab_size=20, num_classes=3, embedding_dim=5,
                                pooling=pooling)  # fmt: skip
    pooled.load_state_dict(fast.state_dict())
    return fast, pooled


@pytest.mark.parametrize("kind", ["bigru", "lstm", "stacked bidirectional"])
def test_final_state_pooling_equals_pooling_the_outputs(kind: str) -> None:
    from seqlearn.nn import LSTMCell, StackedLayers, bidirectional_final

    torch.manual_seed(0)
    if kind == "bigru":
        encoder: nn.Module = Bidirectional(GRUCell(5, 4), GRUCell(5, 4))
        pooling: Pooling = bidirectional_final
    elif kind == "lstm":
        encoder, pooling = Recurrent(LSTMCell(5, 4)), last_valid
    else:
        encoder = StackedLayers(
            [
                Bidirectional(GRUCell(5, 4), GRUCell(5, 4)),
                Bidirectional(GRUCell(8, 3), GRUCell(8, 3)),
            ]
        )
        pooling = bidirectional_final
    fast, pooled = _twins(encoder, pooling)
    tokens, lengths = torch.randint(0, 20, (4, 6)), torch.tensor([6, 3, 1, 2])
    torch.testing.assert_close(fast(tokens, lengths), pooled(tokens, lengths))
    fast(tokens, lengths).sum().backward()  # type: ignore[no-untyped-call]
    expected = {name: p.grad.clone() for name, p in fast.named_parameters() if p.grad is not None}
    fast.zero_grad()
    pooled(tokens, lengths).sum().backward()  # type: ignore[no-untyped-call]
    for name, parameter in pooled.named_parameters():
        torch.testing.assert_close(parameter.grad, expected[name])


def test_final_state_pooling_refuses_what_it_cannot_read() -> None:
    from seqlearn.nn import StackedCell

    with pytest.raises(ValueError, match="final_output"):
        SequenceClassifier(nn.GRU(5, 4, batch_first=True), vocab_size=20, num_classes=3,
                           embedding_dim=5, hidden_size=4, pooling="final_state")  # fmt: skip
    with pytest.raises(ValueError, match="readout='output'"):
        SequenceClassifier(Recurrent(GRUCell(5, 4)), vocab_size=20, num_classes=3,
                           embedding_dim=5, readout="input_and_previous_output",
                           pooling="final_state")  # fmt: skip
    residual = SequenceClassifier(
        Recurrent(StackedCell([GRUCell(5, 5), GRUCell(5, 5)], residual=True)),
        vocab_size=20, num_classes=3, embedding_dim=5, pooling="final_state",
    )  # fmt: skip
    with pytest.raises(TypeError, match="residual"):
        residual(torch.tensor([[1, 2]]), torch.tensor([2]))


def test_a_final_state_classifier_saves_and_loads(tmp_path: Any) -> None:
    from seqlearn.nn.registry import build, describe

    model = SequenceClassifier(Bidirectional(GRUCell(5, 4), GRUCell(5, 4)), vocab_size=20,
                               num_classes=3, embedding_dim=5, pooling="final_state")  # fmt: skip
    rebuilt = build(describe(model))
    rebuilt.load_state_dict(model.state_dict())
    tokens, lengths = torch.randint(0, 20, (2, 4)), torch.tensor([4, 2])
    assert torch.equal(rebuilt(tokens, lengths), model(tokens, lengths))
