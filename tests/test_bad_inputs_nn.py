# mypy: disable-error-code="arg-type, list-item"
# (the calls below break the signatures on purpose)
"""Bad-input sweep, models: wrong shapes, dtypes, lengths and states for every cell, the
layers, pooling, the classifier, the conditional LM and GloVe embeddings, and the empty
batches (``B = 0`` or ``T = 0``) that are documented to work (issue 7, point 3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

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
    LSTMState,
    Recurrent,
    SequenceClassifier,
    StackedCell,
    glove_embedding,
    last_valid,
    max_pool,
    mean_pool,
)
from seqlearn.tokenize import GloVe, Vocabulary

I, H, B, T = 3, 4, 2, 5  # input and hidden sizes, batch, steps  # noqa: E741

CELLS: dict[str, Callable[[], Cell[Any]]] = {
    "elman": lambda: ElmanCell(I, H),
    "gru": lambda: GRUCell(I, H),
    "lstm": lambda: LSTMCell(I, H),
    "lstm-projection": lambda: LSTMCell(I, H, proj_size=2),
    "layernorm-lstm": lambda: LayerNormLSTMCell(I, H),
    "indrnn": lambda: IndRNNCell(I, H),
    "linear": lambda: LinearRecurrentCell(I, H),
    "stack": lambda: StackedCell([GRUCell(I, H), IndRNNCell(H, H)]),
    "learned-initial": lambda: LearnedInitialState(LSTMCell(I, H)),
}


def _first_tensor_name(cell: Cell[Any]) -> str:
    """How the step names the first tensor of its state in errors."""
    state = cell.initial_state(1)
    return "state.h" if isinstance(state, LSTMState) else "state"


def _with_rows(state: Any, rows: int) -> Any:
    """``state`` with its batch dimension cut or repeated to ``rows``."""
    if isinstance(state, Tensor):
        return state[:1].expand(rows, *state.shape[1:]).clone()
    items = [_with_rows(item, rows) for item in state]
    return type(state)(*items) if hasattr(state, "_fields") else tuple(items)


# Cells: one step


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("rows", [1, 3])
def test_cell_step_refuses_a_state_of_another_batch_size(name: str, rows: int) -> None:
    cell = CELLS[name]()
    state = _with_rows(cell.initial_state(B), rows)
    with pytest.raises(ValueError, match=re.escape(f"got ({rows},")) as info:
        cell(torch.randn(B, I), state)
    assert "state" in str(info.value)


@pytest.mark.parametrize("name", CELLS)
def test_cell_step_refuses_bad_inputs_and_states(name: str) -> None:
    cell = CELLS[name]()
    state = cell.initial_state(B)
    with pytest.raises(ValueError, match=re.escape(f"expected input of shape (B, {I}), got (3,)")):
        cell(torch.randn(I), state)
    with pytest.raises(ValueError, match=re.escape(f"(B, {I}), got ({B}, {I + 1})")):
        cell(torch.randn(B, I + 1), state)
    with pytest.raises(TypeError, match=r"floating point input, got dtype torch\.int64"):
        cell(torch.ones(B, I, dtype=torch.int64), state)
    with pytest.raises(TypeError, match="as a tensor, got list"):
        cell([[0.0] * I] * B, state)
    with pytest.raises(TypeError, match="state"):
        cell(torch.randn(B, I), None)


@pytest.mark.parametrize("name", CELLS)
def test_cell_step_refuses_a_state_of_the_wrong_size_or_dtype(name: str) -> None:
    cell = CELLS[name]()
    if isinstance(cell, StackedCell):
        with pytest.raises(ValueError, match="a state for each of 2 cells, got 1"):
            cell(torch.randn(B, I), cell.initial_state(B)[:1])
        with pytest.raises(TypeError, match="a tuple of 2 cell states, got list"):
            cell(torch.randn(B, I), list(cell.initial_state(B)))
        return
    state = cell.initial_state(B)
    first = _first_tensor_name(cell)
    wrong_size: Any
    wrong_dtype: Any
    if isinstance(state, LSTMState):
        wrong_size = state._replace(h=torch.zeros(B, state.h.size(1) + 1))
        wrong_dtype = state._replace(h=state.h.long())
        with pytest.raises(TypeError, match="an LSTMState"):
            cell(torch.randn(B, I), tuple(state))
    else:
        wrong_size, wrong_dtype = torch.zeros(B, 1), state.long()
    with pytest.raises(ValueError, match=re.escape(f"expected {first} of shape")):
        cell(torch.randn(B, I), wrong_size)
    with pytest.raises(TypeError, match=re.escape(f"floating point {first}")):
        cell(torch.randn(B, I), wrong_dtype)


@pytest.mark.parametrize("name", CELLS)
def test_cell_step_and_initial_state_with_no_rows(name: str) -> None:
    cell = CELLS[name]()
    y, _ = cell(torch.randn(0, I), cell.initial_state(0))
    assert y.shape == (0, cell.output_size)
    with pytest.raises(ValueError, match="batch_size must be >= 0, got -1"):
        cell.initial_state(-1)
    with pytest.raises(TypeError, match=r"batch_size must be an int, got 1\.5"):
        cell.initial_state(1.5)


# Recurrent and Bidirectional

LAYERS: dict[str, Callable[[], Any]] = {
    "fused": lambda: Recurrent(GRUCell(I, H)),
    "loop": lambda: Recurrent(GRUCell(I, H), fused=False),
    "lstm": lambda: Recurrent(LSTMCell(I, H)),
    "layernorm-lstm": lambda: Recurrent(LayerNormLSTMCell(I, H)),
    "indrnn": lambda: Recurrent(IndRNNCell(I, H)),
    "bidirectional": lambda: Bidirectional(GRUCell(I, H), LSTMCell(I, H)),
}

BAD_LENGTHS: list[tuple[Any, type[Exception], str]] = [
    (torch.tensor([T + 1, 2]), ValueError, f"lengths must lie in [0, {T}]"),
    (torch.tensor([-1, 2]), ValueError, "got values from -1 to 2"),
    (torch.tensor([2.0, 1.0]), TypeError, "lengths must be an integer tensor"),
    (torch.tensor([True, False]), TypeError, "lengths must be an integer tensor"),
    ([2, 1], TypeError, "lengths must be an integer tensor"),
    (torch.tensor([2, 1, 1]), ValueError, f"expected lengths of shape ({B},), got (3,)"),
    (torch.tensor([[2, 1]]), ValueError, f"expected lengths of shape ({B},), got (1, 2)"),
]


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(("lengths", "error", "needle"), BAD_LENGTHS)
def test_layer_refuses_bad_lengths(
    name: str, lengths: Any, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        LAYERS[name]()(torch.randn(B, T, I), lengths)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_refuses_bad_inputs(name: str) -> None:
    layer = LAYERS[name]()
    with pytest.raises(ValueError, match=re.escape(f"(B, T, {I}), got ({T}, {I})")):
        layer(torch.randn(T, I))
    with pytest.raises(TypeError, match=r"floating point input, got dtype torch\.int64"):
        layer(torch.ones(B, T, I, dtype=torch.int64))
    with pytest.raises(TypeError, match="as a tensor, got list"):
        layer(torch.randn(B, T, I).tolist())
    with pytest.raises(TypeError, match=r"dtype torch\.float32 \(the cell's parameters\)"):
        layer(torch.randn(B, T, I, dtype=torch.float64))


@pytest.mark.parametrize("name", [name for name in LAYERS if name != "bidirectional"])
@pytest.mark.parametrize("rows", [1, 3])
def test_recurrent_refuses_an_initial_state_of_another_batch_size(name: str, rows: int) -> None:
    layer = LAYERS[name]()
    state = _with_rows(layer.cell.initial_state(B), rows)
    with pytest.raises(ValueError, match=re.escape("expected initial_state")):
        layer(torch.randn(B, T, I), torch.tensor([T, 2]), state)
    with pytest.raises(TypeError, match="initial_state"):
        layer(torch.randn(B, T, I), None, 5)


def test_recurrent_refuses_an_initial_state_of_another_structure() -> None:
    lstm = Recurrent(LSTMCell(I, H))
    with pytest.raises(TypeError, match=r"LSTMState of 2 items\), got tuple"):
        lstm(torch.randn(B, T, I), None, tuple(lstm.cell.initial_state(B)))
    with pytest.raises(TypeError, match=r"initial_state\.c as a tensor"):
        lstm(torch.randn(B, T, I), None, LSTMState(torch.zeros(B, H), None))
    stack = Recurrent(StackedCell([GRUCell(I, H), GRUCell(H, H)]))
    with pytest.raises(TypeError, match=r"tuple of 2 items\), got Tensor"):
        stack(torch.randn(B, T, I), None, torch.zeros(B, H))
    with pytest.raises(ValueError, match=re.escape(f"initial_state[1] of shape ({B}, {H})")):
        stack(torch.randn(B, T, I), None, (torch.zeros(B, H), torch.zeros(B, H + 1)))


def test_bidirectional_refuses_an_initial_state_that_is_not_a_pair() -> None:
    layer = LAYERS["bidirectional"]()
    with pytest.raises(TypeError, match="a pair"):
        layer(torch.randn(B, T, I), None, torch.zeros(B, H))
    forward_state, backward_state = torch.zeros(1, H), layer.backward_layer.cell.initial_state(B)
    with pytest.raises(ValueError, match="initial_state"):
        layer(torch.randn(B, T, I), None, (forward_state, backward_state))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(("batch", "steps"), [(0, T), (B, 0), (0, 0)])
def test_layer_with_an_empty_batch_returns_empty_outputs(name: str, batch: int, steps: int) -> None:
    layer = LAYERS[name]()
    lengths = torch.zeros(batch, dtype=torch.long)
    outputs, _ = layer(torch.randn(batch, steps, I), lengths)
    width = 2 * H if name == "bidirectional" else H
    assert outputs.shape == (batch, steps, width)
    assert outputs.shape == layer(torch.randn(batch, steps, I))[0].shape


# Pooling

POOLINGS: dict[str, Callable[[], Callable[[Tensor, Tensor], Tensor]]] = {
    "last_valid": lambda: last_valid,
    "mean_pool": lambda: mean_pool,
    "max_pool": lambda: max_pool,
    "attention": lambda: AttentionPooling(H),
}


@pytest.mark.parametrize("name", POOLINGS)
@pytest.mark.parametrize(("lengths", "error", "needle"), BAD_LENGTHS)
def test_pooling_refuses_bad_lengths(
    name: str, lengths: Any, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        POOLINGS[name]()(torch.randn(B, T, H), lengths)


@pytest.mark.parametrize("name", POOLINGS)
def test_pooling_refuses_bad_outputs_and_pools_empty_batches(name: str) -> None:
    pool = POOLINGS[name]()
    lengths = torch.tensor([T, 0])
    with pytest.raises(ValueError, match=re.escape(f"outputs of shape (B, T, H), got ({T}, {H})")):
        pool(torch.randn(T, H), lengths)
    with pytest.raises(ValueError, match="outputs of shape"):
        pool([[0.0]], lengths)
    with pytest.raises(TypeError, match=r"floating point outputs, got dtype torch\.int64"):
        pool(torch.ones(B, T, H, dtype=torch.int64), lengths)
    assert pool(torch.randn(0, T, H), torch.zeros(0, dtype=torch.long)).shape == (0, H)
    empty = pool(torch.randn(B, 0, H), torch.zeros(B, dtype=torch.long))
    assert empty.shape == (B, H) and not empty.any()  # zero-length sequences pool to zeros


def test_attention_pooling_refuses_another_hidden_size() -> None:
    with pytest.raises(ValueError, match=re.escape(f"(B, T, {H}), got ({B}, {T}, {H + 1})")):
        AttentionPooling(H)(torch.randn(B, T, H + 1), torch.tensor([T, 1]))
    with pytest.raises(ValueError, match="attention_size must be a positive int, got 0"):
        AttentionPooling(H, attention_size=0)


# SequenceClassifier

V, C = 10, 3


def _classifier(**options: Any) -> SequenceClassifier:
    arguments: dict[str, Any] = {"vocab_size": V, "num_classes": C, "embedding_dim": I}
    return SequenceClassifier(Recurrent(GRUCell(I, H)), **{**arguments, **options})


TOKENS = torch.tensor([[1, 2, 3], [4, 5, 0]])
LENGTHS = torch.tensor([3, 2])


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda m: m(TOKENS, torch.tensor([4, 2])), ValueError, "lengths must lie in [0, 3]"),
        (lambda m: m(TOKENS, torch.tensor([-1, 2])), ValueError, "from -1 to 2"),
        (lambda m: m(TOKENS, LENGTHS.float()), TypeError, "lengths must be an integer tensor"),
        (lambda m: m(TOKENS.float(), LENGTHS), TypeError, "inputs must be an integer tensor"),
        (lambda m: m(TOKENS.to(torch.uint8), LENGTHS), TypeError, "inputs must be an integer"),
        (lambda m: m(TOKENS + 10, LENGTHS), ValueError, f"inputs must lie in [0, {V})"),
        (lambda m: m(TOKENS - 2, LENGTHS), ValueError, "got values from -1"),
        (lambda m: m(TOKENS[0], LENGTHS), ValueError, "inputs of shape (B, T), got (3,)"),
        (lambda m: m(TOKENS.tolist(), LENGTHS), ValueError, "inputs of shape (B, T), got list"),
        (lambda m: m(TOKENS, LENGTHS[:1]), ValueError, "lengths of shape (2,), got (1,)"),
    ],
)
def test_classifier_refuses_bad_inputs(
    call: Callable[[SequenceClassifier], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call(_classifier())


def test_classifier_ignores_padding_and_handles_empty_batches() -> None:
    model = _classifier().eval()
    padded = torch.tensor([[1, 2, 3], [4, 5, -7]])  # padding may hold anything
    assert torch.equal(model(padded, LENGTHS), model(TOKENS, LENGTHS))
    assert model(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long)).shape == (
        0,
        C,
    )
    assert model(torch.zeros(B, 0, dtype=torch.long), torch.zeros(B, dtype=torch.long)).shape == (
        B,
        C,
    )


@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"vocab_size": 0}, ValueError, "vocab_size must be a positive int, got 0"),
        ({"num_classes": 2.5}, ValueError, "num_classes must be a positive int, got 2.5"),
        ({"embedding_dim": 0}, ValueError, "got 0 for embedding_dim"),
        ({"embedding_dim": 2.5}, TypeError, "embedding_dim must be an int, got 2.5"),
        ({"embedding_dim": 5}, ValueError, "the encoder's input_size must be 5"),
        ({"dropout": 1.0}, ValueError, "dropout must be in [0, 1), got 1.0"),
        ({"dropout": float("nan")}, ValueError, "dropout must be in [0, 1), got nan"),
        ({"readout": "hidden"}, ValueError, "readout must be 'output'"),
        ({"pooling": "mean"}, TypeError, "pooling must be a callable"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be a positive int, got 0"),
    ],
)
def test_classifier_bad_constructor_arguments(
    options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        _classifier(**options)


# ConditionalLM

K = 4


def _lm() -> ConditionalLM[Any]:
    return ConditionalLM(GRUCell(K + 5, H), vocab_size=5, num_categories=K)


LM_TOKENS = torch.tensor([[1, 2], [3, 0]])
LM_CATEGORIES = torch.tensor([0, 3])


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda m: m(LM_TOKENS, torch.tensor([3, 1]), LM_CATEGORIES), ValueError, "[0, 2]"),
        (lambda m: m(LM_TOKENS, torch.tensor([-1, 1]), LM_CATEGORIES), ValueError, "from -1"),
        (lambda m: m(LM_TOKENS, torch.tensor([2.0, 1.0]), LM_CATEGORIES), TypeError, "lengths"),
        (lambda m: m(LM_TOKENS + 4, None, LM_CATEGORIES), ValueError, "tokens must lie in [0, 5)"),
        (
            lambda m: m(torch.tensor([[1, 2], [3, -1]]), torch.tensor([2, 1]), LM_CATEGORIES),
            ValueError,
            "tokens must lie in [0, 5), got values from -1",  # padding must be in range too
        ),
        (lambda m: m(LM_TOKENS, None, LM_CATEGORIES + 1), ValueError, "categories must lie in"),
        (lambda m: m(LM_TOKENS.float(), None, LM_CATEGORIES), TypeError, "tokens must be an"),
        (lambda m: m(LM_TOKENS, None, LM_CATEGORIES.float()), TypeError, "categories must be"),
        (lambda m: m(LM_TOKENS.tolist(), None, LM_CATEGORIES), TypeError, "got list"),
        (lambda m: m(LM_TOKENS, None, [0, 3]), TypeError, "categories must be an integer tensor"),
        (lambda m: m(LM_TOKENS[0], None, LM_CATEGORIES), ValueError, "tokens of shape (B, T)"),
        (lambda m: m(LM_TOKENS, None, LM_CATEGORIES[:1]), ValueError, "categories of shape (2,)"),
        (lambda m: m.initial_state([0, 3]), TypeError, "categories must be an integer tensor"),
        (lambda m: m.initial_state(torch.tensor([[0]])), ValueError, "shape (B,), got (1, 1)"),
        (lambda m: m.initial_state(torch.tensor([K])), ValueError, "categories must lie in"),
        (lambda m: m.initial_state(torch.tensor([0.0])), TypeError, "categories must be an"),
    ],
)
def test_conditional_lm_forward_and_initial_state_refuse_bad_inputs(
    call: Callable[[ConditionalLM[Any]], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call(_lm())


@pytest.mark.parametrize(
    ("tokens", "state", "error", "needle"),
    [
        (torch.tensor([1, 5]), None, ValueError, "tokens must lie in [0, 5), got values from 1"),
        (torch.tensor([1, -1]), None, ValueError, "tokens must lie in [0, 5)"),
        (torch.tensor([1, 2, 3]), None, ValueError, "tokens of shape (2,), got (3,)"),
        (torch.tensor([1.0, 2.0]), None, TypeError, "tokens must be an integer tensor"),
        ([1, 2], None, TypeError, "tokens must be an integer tensor of ids, got list"),
        (torch.tensor([1, 2]), torch.zeros(2, H), TypeError, "ConditionalLMState"),
        (torch.tensor([1, 2]), "short", ValueError, f"state of shape (2, {H})"),
    ],
)
def test_conditional_lm_step_refuses_bad_inputs(
    tokens: Any, state: Any, error: type[Exception], needle: str
) -> None:
    model = _lm()
    good = model.initial_state(LM_CATEGORIES)
    if state is None:
        state = good
    elif state == "short":
        state = good._replace(cell=good.cell[:1])
    with pytest.raises(error, match=re.escape(needle)):
        model.step(tokens, state)


def test_conditional_lm_with_empty_batches() -> None:
    model = _lm()
    no_rows = torch.zeros(0, dtype=torch.long)
    assert model(torch.zeros(0, 2, dtype=torch.long), no_rows, no_rows).shape == (0, 2, 5)
    assert model(torch.zeros(B, 0, dtype=torch.long), None, LM_CATEGORIES).shape == (B, 0, 5)
    logits, _ = model.step(no_rows, model.initial_state(no_rows))
    assert logits.shape == (0, 5)


@pytest.mark.parametrize(
    ("options", "error", "needle"),
    [
        ({"vocab_size": 0}, ValueError, "vocab_size must be positive, got 0"),
        ({"vocab_size": 2.5}, TypeError, "vocab_size must be an int, got 2.5"),
        ({"num_categories": "4"}, TypeError, "num_categories must be an int, got '4'"),
        ({"embedding_dim": 0}, ValueError, "got 0 for embedding_dim"),
        ({"category_dim": 1.5}, TypeError, "category_dim must be an int, got 1.5"),
        ({"dropout": -0.1}, ValueError, "dropout must be in [0, 1)"),
        ({"readout": "hidden"}, ValueError, "readout must be"),
        ({"cell": torch.nn.GRUCell(K + 5, H)}, TypeError, "cell must be a seqlearn Cell"),
    ],
)
def test_conditional_lm_bad_constructor_arguments(
    options: dict[str, Any], error: type[Exception], needle: str
) -> None:
    arguments: dict[str, Any] = {"cell": GRUCell(K + 5, H), "vocab_size": 5, "num_categories": K}
    arguments.update(options)
    with pytest.raises(error, match=re.escape(needle)):
        ConditionalLM(arguments.pop("cell"), **arguments)


# glove_embedding

VECTORS = GloVe(["cat", "dog"], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda: glove_embedding(VECTORS, ["cat"]), TypeError, "expected a Vocabulary, got list"),
        (lambda: glove_embedding({"cat": [1.0]}, Vocabulary(["cat"])), TypeError, "GloVe"),
        (lambda: glove_embedding(VECTORS, Vocabulary(["cat"]), oov="one"), ValueError, "oov"),
        (lambda: glove_embedding(VECTORS, Vocabulary(["cat"]), freeze=1), TypeError, "freeze"),
        (
            lambda: glove_embedding(GloVe([], torch.zeros(0, 2)), Vocabulary(["x"]), oov="mean"),
            ValueError,
            "no vectors",
        ),
    ],
)
def test_glove_embedding_bad_arguments(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()


def test_glove_embedding_of_a_vocabulary_without_words_or_specials() -> None:
    embedding = glove_embedding(VECTORS, Vocabulary([]))
    assert embedding.weight.shape == (2, 2) and not embedding.weight.any()
    bare = glove_embedding(VECTORS, Vocabulary(["dog"], pad=None, unk=None))
    assert bare.weight.tolist() == [[3.0, 4.0]] and bare.padding_idx is None
