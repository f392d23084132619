"""AWD-LSTM's regularisers as parts: locked dropout, weight-drop, word dropout, tied weights."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import seqlearn
from seqlearn.data import collate_next_token
from seqlearn.nn import (
    Bidirectional,
    ConditionalLM,
    ElmanCell,
    FusedCell,
    GRUCell,
    LayerNormLSTMCell,
    LockedDropout,
    LSTMCell,
    Recurrent,
    SequenceClassifier,
    StackedCell,
    StackedLayers,
    WeightDrop,
    locked_dropout,
    word_dropout,
)
from seqlearn.nn.registry import build, describe
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import ActivationRegularization, activation_penalty, next_token_loss

B, T, I, H = 3, 6, 4, 5  # noqa: E741 - the shape names of the docs
LENGTHS = torch.tensor([6, 4, 1])


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(seed: int = 1) -> Tensor:
    return torch.randn(B, T, I, generator=_seeded(seed))


# Locked dropout ------------------------------------------------------------------------


def test_locked_dropout_one_mask_per_sequence_against_reference() -> None:
    x = torch.randn(B, T, H, generator=_seeded(1), requires_grad=True)
    y = locked_dropout(x, 0.4, generator=_seeded(7))
    mask = torch.empty(B, 1, H).bernoulli_(0.6, generator=_seeded(7)) / 0.6
    torch.testing.assert_close(y, x * mask)
    kept = y != 0  # x has no zeros
    assert torch.equal(kept, kept[:, :1].expand_as(kept))  # constant over time
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, mask.expand_as(x))


def test_locked_dropout_masks_differ_between_sequences() -> None:
    y = locked_dropout(torch.ones(64, 3, 32), 0.5, generator=_seeded(2))
    masks = y[:, 0]  # (B, H)
    assert len({tuple(row.tolist()) for row in masks}) > 1
    assert set(y.unique().tolist()) == {0.0, 2.0}


def test_locked_dropout_is_the_identity_in_eval_mode() -> None:
    x = torch.randn(B, T, H)
    assert locked_dropout(x, 0.5, training=False) is x
    module = LockedDropout(0.5).eval()
    assert module(x) is x
    assert LockedDropout(0.0)(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, True])
def test_locked_dropout_rejects_bad_rates(p: Any) -> None:
    with pytest.raises(ValueError, match=r"p must be a float in \[0, 1\)"):
        LockedDropout(p)


def test_locked_dropout_rejects_a_batch_that_is_not_3d() -> None:
    with pytest.raises(ValueError, match=r"expected input of shape \(B, T, H\), got \(2, 3\)"):
        locked_dropout(torch.ones(2, 3), 0.5)


def test_locked_dropout_module_saves_and_loads() -> None:
    description = describe(LockedDropout(0.3))
    assert description == {"class": "seqlearn.nn.LockedDropout", "config": {"p": 0.3}}
    assert build(description).p == 0.3


def test_stacked_layers_locked_dropout_against_reference() -> None:
    layers = [Recurrent(GRUCell(I, H, generator=_seeded(3))), Recurrent(GRUCell(H, H))]
    stack = StackedLayers(layers, dropout=0.5, locked=True)
    x = _inputs()
    torch.manual_seed(11)
    outputs, _ = stack(x, LENGTHS)
    torch.manual_seed(11)
    below, _ = layers[0](x, LENGTHS)
    expected, _ = layers[1](locked_dropout(below, 0.5), LENGTHS)
    torch.testing.assert_close(outputs, expected)
    stack.eval()
    plain = StackedLayers(layers).eval()
    torch.testing.assert_close(stack(x, LENGTHS)[0], plain(x, LENGTHS)[0])
    again = build(describe(stack))
    assert again.locked and again.dropout == 0.5


# Weight-drop ---------------------------------------------------------------------------

CELLS: dict[str, Callable[[], FusedCell[Any]]] = {
    "gru": lambda: GRUCell(I, H, generator=_seeded(4)),
    "lstm": lambda: LSTMCell(I, H, generator=_seeded(4)),
    "lstm-proj": lambda: LSTMCell(I, H, proj_size=3, generator=_seeded(4)),
    "elman": lambda: ElmanCell(I, H, nonlinearity="relu", generator=_seeded(4)),
}
KERNELS = {"gru": "gru", "lstm": "lstm", "lstm-proj": "lstm", "elman": "rnn_relu"}


def _masked_copy(cell: FusedCell[Any], mask: Tensor) -> FusedCell[Any]:
    """A copy of ``cell`` whose ``W_hh`` (a parameter or a view of one) holds ``W_hh * mask``."""
    reference = copy.deepcopy(cell)
    with torch.no_grad():
        reference.fused_weights()[1].mul_(mask)
    return reference


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(torch, name)

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(torch, name, counting)
    return calls


@pytest.mark.parametrize("kind", CELLS)
def test_weight_drop_runs_one_fused_kernel_call_with_the_masked_weight(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell = WeightDrop(CELLS[kind](), 0.5, generator=_seeded(5))
    layer = Recurrent(cell)
    assert layer.uses_fused_kernels
    calls = _count_calls(monkeypatch, KERNELS[kind])
    outputs, state = layer(_inputs(), LENGTHS)
    assert len(calls) == 1
    mask = cell.mask
    assert mask is not None and mask.is_contiguous()
    assert set(mask.unique().tolist()) == {0.0, 2.0}
    monkeypatch.undo()
    reference = Recurrent(_masked_copy(cell.cell, mask), fused=False)
    expected, expected_state = reference(_inputs(), LENGTHS)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(layer.final_output(state), reference.final_output(expected_state))


@pytest.mark.parametrize("kind", CELLS)
def test_weight_drop_steps_share_one_mask_per_run(kind: str) -> None:
    fused = WeightDrop(CELLS[kind](), 0.5, generator=_seeded(6))
    stepped = WeightDrop(CELLS[kind](), 0.5, generator=_seeded(6))
    outputs, _ = Recurrent(fused)(_inputs(), LENGTHS)
    step_outputs, _ = Recurrent(stepped, fused=False)(_inputs(), LENGTHS)
    assert stepped.mask is not None and fused.mask is not None
    assert torch.equal(stepped.mask, fused.mask)
    torch.testing.assert_close(step_outputs, outputs)
    x = _inputs()[:, 0]
    y, _ = stepped(x, stepped.initial_state(B))  # a checked step: the same mask again
    reference = _masked_copy(stepped.cell, stepped.mask)
    torch.testing.assert_close(y, reference(x, reference.initial_state(B))[0])


def test_weight_drop_draws_a_new_mask_per_batch() -> None:
    cell = WeightDrop(GRUCell(I, H), 0.5, generator=_seeded(8))
    layer = Recurrent(cell)
    layer(_inputs(), LENGTHS)
    first = cell.mask
    layer(_inputs(), LENGTHS)
    assert first is not None and cell.mask is not None
    assert not torch.equal(first, cell.mask)


def test_weight_drop_gradients_flow_through_the_mask() -> None:
    cell = WeightDrop(GRUCell(I, H, generator=_seeded(4)), 0.5, generator=_seeded(9))
    outputs, _ = Recurrent(cell)(_inputs(), LENGTHS)
    outputs.sum().backward()
    inner = cell.cell
    assert inner.weight_hh.grad is not None and inner.weight_ih.grad is not None
    assert cell.mask is not None
    assert bool(inner.weight_hh.grad[cell.mask == 0].eq(0).all())
    assert bool(inner.weight_hh.grad[cell.mask != 0].ne(0).any())


@pytest.mark.parametrize("kind", CELLS)
def test_weight_drop_is_the_wrapped_cell_in_eval_mode(kind: str) -> None:
    cell = WeightDrop(CELLS[kind](), 0.5).eval()
    outputs, _ = Recurrent(cell)(_inputs(), LENGTHS)
    expected, _ = Recurrent(cell.cell)(_inputs(), LENGTHS)
    assert torch.equal(outputs, expected)
    assert cell.mask is None
    assert all(map(torch.equal, cell.fused_weights(), cell.cell.fused_weights()))


def test_weight_drop_stack_still_runs_one_multi_layer_kernel_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cells = [WeightDrop(LSTMCell(I, H), 0.3), WeightDrop(LSTMCell(H, H), 0.3)]
    layer = Recurrent(StackedCell(cells))
    calls = _count_calls(monkeypatch, "lstm")
    outputs, _ = layer(_inputs(), LENGTHS)
    assert len(calls) == 1 and outputs.shape == (B, T, H)


def test_weight_drop_bidirectional_runs_fused(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = Bidirectional(WeightDrop(GRUCell(I, H), 0.3), WeightDrop(GRUCell(I, H), 0.3))
    calls = _count_calls(monkeypatch, "gru")
    outputs, _ = layer(_inputs(), LENGTHS)
    assert len(calls) == 1 and outputs.shape == (B, T, 2 * H)


def test_weight_drop_saves_and_loads() -> None:
    cell = WeightDrop(LSTMCell(I, H, proj_size=2), 0.25, generator=_seeded(0))
    description = describe(Recurrent(cell))
    assert description["config"]["cell"]["class"] == "seqlearn.nn.WeightDrop"
    assert description["config"]["cell"]["config"]["p"] == 0.25
    again = build(description)
    again.load_state_dict(Recurrent(cell).state_dict())
    again.eval(), cell.eval()
    torch.testing.assert_close(again(_inputs())[0], Recurrent(cell)(_inputs())[0])


def test_weight_drop_refuses_cells_without_a_kernel_and_bad_rates() -> None:
    with pytest.raises(TypeError, match="cell must be a FusedCell"):
        WeightDrop(LayerNormLSTMCell(I, H), 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"p must be a float in \[0, 1\), got 1.0"):
        WeightDrop(GRUCell(I, H), 1.0)


def test_weight_drop_checks_a_step_state() -> None:
    cell = WeightDrop(GRUCell(I, H), 0.5)
    with pytest.raises(ValueError, match=r"expected state tensors of shapes \[\(2, 5\)\]"):
        cell(torch.zeros(2, I), torch.zeros(3, H))


# Word (embedding) dropout --------------------------------------------------------------


def test_word_dropout_drops_whole_words_against_reference() -> None:
    embedding = nn.Embedding(10, 3)
    ids = torch.tensor([[1, 2, 1, 3], [3, 3, 2, 9]])
    vectors = word_dropout(embedding, ids, 0.5, generator=_seeded(3))
    mask = torch.empty(10, 1).bernoulli_(0.5, generator=_seeded(3)) / 0.5
    torch.testing.assert_close(vectors, nn.functional.embedding(ids, embedding.weight * mask))
    vectors.sum().backward()
    assert embedding.weight.grad is not None
    dropped = (mask.squeeze(1) == 0).nonzero().flatten().tolist()
    assert bool(embedding.weight.grad[dropped].eq(0).all())
    assert torch.equal(word_dropout(embedding, ids, 0.5, training=False), embedding(ids))


def test_word_dropout_keeps_the_padding_row_zero() -> None:
    embedding = nn.Embedding(6, 3, padding_idx=0)
    vectors = word_dropout(embedding, torch.tensor([[0, 1, 2]]), 0.2, generator=_seeded(1))
    assert bool(vectors[0, 0].eq(0).all())


def _lm(**options: Any) -> ConditionalLM[Any]:
    return ConditionalLM(
        GRUCell(2 + 6, 6, generator=_seeded(2)),
        vocab_size=7,
        num_categories=2,
        embedding_dim=6,
        generator=_seeded(2),
        **options,
    )


TOKENS = torch.tensor([[1, 2, 3, 1], [4, 1, 0, 0]])
TOKEN_LENGTHS = torch.tensor([4, 2])
CATEGORIES = torch.tensor([0, 1])


def test_conditional_lm_word_dropout_against_reference() -> None:
    model = _lm(word_dropout=0.5)
    torch.manual_seed(4)
    logits = model(TOKENS, TOKEN_LENGTHS, CATEGORIES)
    torch.manual_seed(4)
    assert model.token_embedding is not None
    mask = torch.empty(7, 1).bernoulli_(0.5) / 0.5
    reference = copy.deepcopy(model).eval()
    assert reference.token_embedding is not None
    with torch.no_grad():
        reference.token_embedding.weight.mul_(mask)
    torch.testing.assert_close(logits, reference(TOKENS, TOKEN_LENGTHS, CATEGORIES))
    model.eval()
    assert torch.equal(
        model(TOKENS, TOKEN_LENGTHS, CATEGORIES), _lm().eval()(TOKENS, TOKEN_LENGTHS, CATEGORIES)
    )
    with pytest.raises(ValueError, match="word_dropout needs a learned embedding"):
        ConditionalLM(GRUCell(2 + 7, 4), vocab_size=7, num_categories=2, word_dropout=0.1)


def test_sequence_classifier_word_dropout_against_reference() -> None:
    encoder = Recurrent(GRUCell(4, 5, generator=_seeded(1)))
    model = SequenceClassifier(
        encoder, vocab_size=7, num_classes=3, embedding_dim=4, word_dropout=0.5
    )
    torch.manual_seed(3)
    logits = model(TOKENS, TOKEN_LENGTHS)
    torch.manual_seed(3)
    mask = torch.empty(7, 1).bernoulli_(0.5) / 0.5
    reference = copy.deepcopy(model).eval()
    assert reference.token_embedding is not None
    with torch.no_grad():
        reference.token_embedding.weight.mul_(mask)
    torch.testing.assert_close(logits, reference(TOKENS, TOKEN_LENGTHS))
    assert build(describe(model)).word_dropout == 0.5
    with pytest.raises(ValueError, match="word_dropout needs an embedding"):
        SequenceClassifier(Recurrent(GRUCell(7, 5)), vocab_size=7, num_classes=3, word_dropout=0.1)


# Weight tying --------------------------------------------------------------------------


def test_tied_weights_share_one_parameter() -> None:
    model = _lm(tie_weights=True)
    assert model.token_embedding is not None
    assert model.head.weight is model.token_embedding.weight
    untied = _lm()
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in untied.parameters()) - 7 * 6
    logits = model(TOKENS, TOKEN_LENGTHS, CATEGORIES)
    logits.sum().backward()
    weight = model.head.weight
    assert weight.grad is not None
    assert bool(weight.grad[5:].ne(0).any())  # rows never read as inputs learn from the head
    state = model.initial_state(CATEGORIES)
    step_logits, _ = model.step(TOKENS[:, 0], state)
    torch.testing.assert_close(step_logits, logits[:, 0])


def test_tied_weights_need_matching_sizes() -> None:
    with pytest.raises(ValueError, match=r"tie_weights needs embedding_dim equal to .* \(6\)"):
        ConditionalLM(
            GRUCell(2 + 4, 6), vocab_size=7, num_categories=2, embedding_dim=4, tie_weights=True
        )
    with pytest.raises(ValueError, match="got embedding_dim=None"):
        ConditionalLM(GRUCell(2 + 7, 7), vocab_size=7, num_categories=2, tie_weights=True)


def test_tied_weights_survive_an_artifact_round_trip(tmp_path: Any) -> None:
    tokenizer = CharTokenizer(oov="drop")
    vocab = tokenizer.vocab_size
    cell = WeightDrop(LSTMCell(3 + 8, 8, generator=_seeded(1)), 0.3)
    model = ConditionalLM(
        cell,
        vocab_size=vocab,
        num_categories=3,
        embedding_dim=8,
        word_dropout=0.1,
        tie_weights=True,
        generator=_seeded(1),
    )
    folder = seqlearn.TextGenerator(model, tokenizer, ["a", "b", "c"]).save(tmp_path / "lm")
    loaded = seqlearn.load(folder).model
    assert isinstance(loaded, ConditionalLM)
    assert loaded.token_embedding is not None
    assert loaded.head.weight is loaded.token_embedding.weight
    assert loaded.tie_weights and loaded.word_dropout == 0.1
    assert isinstance(loaded.cell, WeightDrop) and loaded.cell.p == 0.3
    tokens = torch.tensor([[1, 2, 3], [4, 5, 0]])
    lengths = torch.tensor([3, 2])
    model.eval()
    torch.testing.assert_close(
        loaded(tokens, lengths, CATEGORIES.new_tensor([0, 2])),
        model(tokens, lengths, CATEGORIES.new_tensor([0, 2])),
    )


# Activation regularisation (AR, TAR) ----------------------------------------------------


def _penalty_reference(outputs: Tensor, lengths: Tensor, alpha: float, beta: float) -> float:
    """AR + TAR by a loop over the valid steps of each sequence."""
    squares, changes, count, pairs = 0.0, 0.0, 0, 0
    for row, length in zip(outputs.tolist(), lengths.tolist()):
        for t in range(length):
            squares += sum(v * v for v in row[t])
            count += len(row[t])
            if t > 0:
                changes += sum((a - b) ** 2 for a, b in zip(row[t], row[t - 1]))
                pairs += len(row[t])
    return alpha * squares / max(count, 1) + beta * changes / max(pairs, 1)


def test_activation_penalty_against_a_loop_ignores_padding() -> None:
    outputs = torch.randn(B, T, H, generator=_seeded(3))
    expected = _penalty_reference(outputs, LENGTHS, 2.0, 1.0)
    got = activation_penalty(outputs, LENGTHS, alpha=2.0, beta=1.0)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    padded = outputs.clone()
    padded[1, 4:] = 100.0
    assert activation_penalty(padded, LENGTHS, alpha=2.0, beta=1.0).item() == pytest.approx(
        expected, rel=1e-5
    )
    assert activation_penalty(outputs, None, alpha=0.0, beta=1.0).item() == pytest.approx(
        _penalty_reference(outputs, torch.full((B,), T), 0.0, 1.0), rel=1e-5
    )


def test_activation_regularization_adds_the_penalty_of_the_layer_outputs() -> None:
    model = _lm(dropout=0.0)
    batch = collate_next_token([([1, 2, 3, 4], 0), ([5], 1), ([2, 2], 1)], eos_id=6)
    objective = ActivationRegularization(next_token_loss, model.recurrent, alpha=2.0, beta=1.0)
    seen: list[Tensor] = []
    handle = model.recurrent.register_forward_hook(lambda m, a, out: seen.append(out[0]))
    plain = next_token_loss(model, batch)
    handle.remove()
    loss = objective(model, batch)
    penalty = _penalty_reference(seen[0].detach(), batch.lengths, 2.0, 1.0)
    assert loss.num_items == plain.num_items
    assert loss.total.item() == pytest.approx(plain.total.item() + penalty * plain.num_items)
    assert not model.recurrent._forward_hooks  # the hook lives for the call only
    loss.total.backward()
    assert model.cell.weight_hh.grad is not None  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="alpha must be a non-negative float"):
        ActivationRegularization(next_token_loss, model.recurrent, alpha=-1.0)
    with pytest.raises(RuntimeError, match="expected the model to run its layer once"):
        ActivationRegularization(next_token_loss, nn.Linear(2, 2))(model, batch)
