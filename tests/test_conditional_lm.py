"""Tests of ConditionalLM against the lecture's own RNN, run one example at a time."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlearn.data.batching import IGNORE_INDEX, NextTokenBatch, collate_next_token
from seqlearn.nn import (
    Cell,
    ConditionalLM,
    ElmanCell,
    GRUCell,
    LSTMCell,
    LSTMState,
    StackedCell,
    lecture_generator,
)
from seqlearn.train import next_token_loss

# The lecture's data layout


ALL_LETTERS = string.ascii_letters + " .,;'-"
N_LETTERS = len(ALL_LETTERS) + 1  # plus EOS
EOS = N_LETTERS - 1
ALL_CATEGORIES = [
    "Czech", "German", "Arabic", "Japanese", "Chinese", "Vietnamese", "Russian", "French",
    "Irish", "English", "Spanish", "Greek", "Italian", "Portuguese", "Scottish", "Dutch",
    "Korean", "Polish",
]  # fmt: skip
N_CATEGORIES = len(ALL_CATEGORIES)

NAMES = [
    ("Nakamura", "Japanese"),
    ("O'Neal", "Irish"),
    ("Li", "Chinese"),
    ("Z", "Czech"),  # one letter: the only target is EOS
    ("De la Cruz", "Spanish"),
    ("Smith-Jones", "English"),
]


def category_to_onehot(category: str) -> Tensor:
    tensor = torch.zeros(1, N_CATEGORIES)
    tensor[0][ALL_CATEGORIES.index(category)] = 1
    return tensor


def input_to_onehot(line: str) -> Tensor:
    tensor = torch.zeros(len(line), 1, N_LETTERS)
    for li, letter in enumerate(line):
        tensor[li][0][ALL_LETTERS.find(letter)] = 1
    return tensor


def target_to_indices(line: str) -> Tensor:
    letter_indexes = [ALL_LETTERS.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(EOS)
    return torch.LongTensor(letter_indexes)


class LectureRNN(nn.Module):
    """The lecture's ``RNN`` class, as written there."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(N_CATEGORIES + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(N_CATEGORIES + input_size + hidden_size, output_size)

    def forward(self, category: Tensor, inp: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        input_combined = torch.cat((category, inp, hidden), dim=1)
        hidden = torch.relu(self.i2h(input_combined))
        output = self.i2o(input_combined)  # from the OLD hidden state
        return output, hidden

    def init_hidden(self) -> Tensor:
        return torch.zeros(1, self.hidden_size)


def lecture_one_example(rnn: LectureRNN, name: str, category: str) -> tuple[list[Tensor], Tensor]:
    """The lecture's ``train_one_example`` without the update: per-step outputs, summed loss."""
    category_tensor = category_to_onehot(category)
    input_line_tensor = input_to_onehot(name)
    target_line_tensor = target_to_indices(name).unsqueeze(-1)
    hidden = rnn.init_hidden()
    loss = torch.zeros(())
    outputs = []
    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        loss = loss + F.cross_entropy(output, target_line_tensor[i])
        outputs.append(output[0])
    return outputs, loss


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _lecture_rnn(hidden_size: int, seed: int = 0) -> LectureRNN:
    rnn = LectureRNN(N_LETTERS, hidden_size, N_LETTERS)
    with torch.no_grad():
        for p in rnn.parameters():
            p.uniform_(-0.3, 0.3, generator=_generator(seed))
            seed += 1
    return rnn


def _copy_lecture_weights(rnn: LectureRNN, model: ConditionalLM[Any]) -> None:
    cell = model.cell
    assert isinstance(cell, ElmanCell) and cell.bias is not None
    with torch.no_grad():
        cell.weight.copy_(rnn.i2h.weight)
        cell.bias.copy_(rnn.i2h.bias)
        model.head.weight.copy_(rnn.i2o.weight)
        model.head.bias.copy_(rnn.i2o.bias)


def _lecture_batch() -> NextTokenBatch:
    examples = [
        ([ALL_LETTERS.find(c) for c in name], ALL_CATEGORIES.index(category))
        for name, category in NAMES
    ]
    return collate_next_token(examples, eos_id=EOS)


def _lecture_model(hidden_size: int, fused: bool) -> ConditionalLM[Tensor]:
    if fused:
        return lecture_generator(hidden_size=hidden_size, generator=_generator(99))
    cell = ElmanCell(N_CATEGORIES + N_LETTERS, hidden_size, nonlinearity="relu")
    return ConditionalLM(
        cell,
        vocab_size=N_LETTERS,
        num_categories=N_CATEGORIES,
        readout="input_and_previous_output",
        fused=False,
    )


# The lecture's model, one for one


def test_lecture_generator_parameter_shapes_equal_the_lecture() -> None:
    model = lecture_generator()
    rnn = LectureRNN(N_LETTERS, 128, N_LETTERS)
    assert [tuple(p.shape) for p in model.parameters()] == [
        tuple(p.shape) for p in rnn.parameters()
    ]
    assert [tuple(p.shape) for p in model.parameters()] == [(128, 205), (128,), (59, 205), (59,)]
    assert model.recurrent.uses_fused_kernels


def test_lecture_batch_layout() -> None:
    batch = _lecture_batch()
    for b, (name, _category) in enumerate(NAMES):
        n = len(name)
        assert int(batch.lengths[b]) == n
        assert batch.targets[b, :n].tolist() == target_to_indices(name).tolist()
        assert bool((batch.targets[b, n:] == IGNORE_INDEX).all())
        onehot = F.one_hot(batch.inputs[b, :n], N_LETTERS).float()
        assert torch.equal(onehot, input_to_onehot(name)[:, 0])


@pytest.mark.parametrize("fused", [True, False])
def test_batched_forward_equals_lecture_loop(fused: bool) -> None:
    hidden_size = 32
    rnn = _lecture_rnn(hidden_size)
    model = _lecture_model(hidden_size, fused)
    _copy_lecture_weights(rnn, model)
    batch = _lecture_batch()

    logits = model(batch.inputs, batch.lengths, batch.categories)  # (B, T, V)
    assert logits.shape == (len(NAMES), batch.inputs.size(1), N_LETTERS)
    lecture_total = torch.zeros(())
    for b, (name, category) in enumerate(NAMES):
        outputs, loss = lecture_one_example(rnn, name, category)
        for t, output in enumerate(outputs):
            torch.testing.assert_close(logits[b, t], output, rtol=0, atol=1e-5)
        lecture_total = lecture_total + loss
    summed = next_token_loss(model, batch)
    assert summed.num_items == sum(len(name) for name, _ in NAMES)
    # float32 sums of ~150 nats: agree to 1e-5 of a nat per predicted token
    torch.testing.assert_close(summed.total, lecture_total, rtol=1e-6, atol=1e-5)
    assert float(lecture_total.detach()) > 1.0  # a real loss, not a degenerate zero

    lecture_grads = torch.autograd.grad(lecture_total, list(rnn.parameters()))
    model_grads = torch.autograd.grad(summed.total, list(model.parameters()))
    for ours, theirs in zip(model_grads, lecture_grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
        assert bool((theirs != 0).any())


def test_lecture_sgd_step_matches() -> None:
    """One lecture update (``p -= lr * g`` per example) equals one step on the batch loss."""
    hidden_size, lr = 16, 0.05
    rnn = _lecture_rnn(hidden_size, seed=5)
    model = _lecture_model(hidden_size, fused=True)
    _copy_lecture_weights(rnn, model)
    total = sum((lecture_one_example(rnn, n, c)[1] for n, c in NAMES), torch.zeros(()))
    grads = torch.autograd.grad(total, list(rnn.parameters()))
    with torch.no_grad():
        for p, g in zip(rnn.parameters(), grads):
            p.sub_(lr * g)  # the lecture's p -= learning_rate * g
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    next_token_loss(model, _lecture_batch()).total.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    for ours, theirs in zip(model.parameters(), rnn.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_step_reproduces_lecture_and_forward() -> None:
    rnn = _lecture_rnn(24, seed=3)
    model = _lecture_model(24, fused=True)
    _copy_lecture_weights(rnn, model)
    batch = _lecture_batch()
    with torch.no_grad():
        logits = model(batch.inputs, batch.lengths, batch.categories)
        state = model.initial_state(batch.categories)
        for t in range(batch.inputs.size(1)):
            step_logits, state = model.step(batch.inputs[:, t], state)
            for b, (name, category) in enumerate(NAMES):
                if t < len(name):
                    torch.testing.assert_close(step_logits[b], logits[b, t], rtol=0, atol=1e-5)
                    outputs, _ = lecture_one_example(rnn, name, category)
                    torch.testing.assert_close(step_logits[b], outputs[t], rtol=0, atol=1e-5)


def test_padding_tokens_do_not_change_valid_logits() -> None:
    model = lecture_generator(hidden_size=16, generator=_generator(1))
    batch = _lecture_batch()
    other = batch.inputs.clone()
    mask = torch.arange(other.size(1)) >= batch.lengths.unsqueeze(1)
    other[mask] = 7
    with torch.no_grad():
        a = model(batch.inputs, batch.lengths, batch.categories)
        b = model(other, batch.lengths, batch.categories)
    valid = ~mask
    torch.testing.assert_close(a[valid], b[valid], rtol=0, atol=0)


def test_int32_ids_give_the_same_logits() -> None:
    model = lecture_generator(hidden_size=16, generator=_generator(2))
    batch = _lecture_batch()
    with torch.no_grad():
        expected = model(batch.inputs, batch.lengths, batch.categories)
        logits = model(batch.inputs.int(), batch.lengths, batch.categories.int())
        state = model.initial_state(batch.categories.int())
        step_logits, _ = model.step(batch.inputs[:, 0].int(), state)
    assert torch.equal(logits, expected)
    torch.testing.assert_close(step_logits, expected[:, 0], rtol=0, atol=1e-6)


def test_generator_makes_lecture_generator_reproducible() -> None:
    before = torch.get_rng_state()
    first = lecture_generator(hidden_size=8, generator=_generator(4))
    second = lecture_generator(hidden_size=8, generator=_generator(4))
    other = lecture_generator(hidden_size=8, generator=_generator(5))
    assert torch.equal(torch.get_rng_state(), before), "a generator leaves the global RNG alone"
    for a, b, c in zip(first.parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_generator_makes_embeddings_and_head_reproducible() -> None:
    def build(seed: int) -> ConditionalLM[Any]:
        return ConditionalLM(
            GRUCell(3 + 5, 4, generator=_generator(seed)),
            vocab_size=7,
            num_categories=2,
            embedding_dim=5,
            category_dim=3,
            readout="input_and_previous_output",
            generator=_generator(seed),
        )

    before = torch.get_rng_state()
    first, second, other = build(0), build(0), build(1)
    assert torch.equal(torch.get_rng_state(), before), "a generator leaves the global RNG alone"
    for (name, a), b, c in zip(first.named_parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b) and not torch.equal(a, c), name
        assert bool(torch.isfinite(a).all()), name
    assert first.head.in_features == 8 + 4  # [c; x] beside the previous output
    bound = first.head.in_features**-0.5
    assert float(first.head.weight.detach().abs().max()) <= bound


# Other cells, embeddings and readouts


V, K, E, C = 11, 4, 5, 3  # vocabulary, categories, token and category embedding sizes

ModelFactory = Callable[[], ConditionalLM[Any]]

MODELS: dict[str, ModelFactory] = {
    "gru-embeddings": lambda: ConditionalLM(
        GRUCell(C + E, 6, generator=_generator(0)),
        vocab_size=V,
        num_categories=K,
        embedding_dim=E,
        category_dim=C,
        generator=_generator(1),
    ),
    "lstm-token-embedding-lecture-readout": lambda: ConditionalLM(
        LSTMCell(K + E, 6, generator=_generator(2)),
        vocab_size=V,
        num_categories=K,
        embedding_dim=E,
        readout="input_and_previous_output",
        generator=_generator(3),
    ),
    "elman-tanh-onehot": lambda: ConditionalLM(
        ElmanCell(K + V, 6, generator=_generator(4)), vocab_size=V, num_categories=K
    ),
    "stack-unfused": lambda: ConditionalLM(
        StackedCell([GRUCell(C + V, 6), LSTMCell(6, 5)], dropout=0.3),
        vocab_size=V,
        num_categories=K,
        category_dim=C,
        fused=False,
        generator=_generator(5),
    ),
}

TOKENS = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [10, 9, 8, 7, 0], [3, 0, 0, 0, 0]])
LENGTHS = torch.tensor([5, 2, 4, 1])
CATEGORIES = torch.tensor([0, 3, 1, 3])


@pytest.fixture(params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> ConditionalLM[Any]:
    torch.manual_seed(0)  # nn.Embedding and unseeded cells draw from the default generator
    return MODELS[request.param]().eval()


def _plain_reference(model: ConditionalLM[Any]) -> Tensor:
    """Each sequence alone: look up vectors by hand, step torch.nn cells, apply the head."""
    cell = model.cell

    def vector(embedding: nn.Embedding | None, index: int, count: int) -> Tensor:
        if embedding is None:
            return F.one_hot(torch.tensor(index), count).float()
        return embedding.weight[index]

    torch_cell: nn.Module
    if isinstance(cell, GRUCell):
        torch_cell = nn.GRUCell(cell.input_size, cell.hidden_size)
    elif isinstance(cell, LSTMCell):
        torch_cell = nn.LSTMCell(cell.input_size, cell.hidden_size)
    else:
        assert isinstance(cell, ElmanCell) and cell.bias is not None
        torch_cell = nn.RNNCell(cell.input_size, cell.hidden_size, nonlinearity=cell.nonlinearity)
    with torch.no_grad():
        if isinstance(cell, ElmanCell):
            assert cell.bias is not None
            torch_cell.weight_ih.copy_(cell.weight[:, : cell.input_size])
            torch_cell.weight_hh.copy_(cell.weight[:, cell.input_size :])
            torch_cell.bias_ih.copy_(cell.bias)
            torch_cell.bias_hh.zero_()
        else:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(torch_cell, name).copy_(getattr(cell, name))

    logits = torch.zeros(*TOKENS.shape, model.vocab_size)
    for b in range(TOKENS.size(0)):
        c = vector(model.category_embedding, int(CATEGORIES[b]), model.num_categories)
        h = torch.zeros(1, cell.hidden_size)
        memory = torch.zeros(1, cell.hidden_size)
        for t in range(int(LENGTHS[b])):
            x = torch.cat((c, vector(model.token_embedding, int(TOKENS[b, t]), model.vocab_size)))
            previous = h[0]
            if isinstance(cell, LSTMCell):
                h, memory = torch_cell(x.unsqueeze(0), (h, memory))
            else:
                h = torch_cell(x.unsqueeze(0), h)
            features = h[0] if model.readout == "output" else torch.cat((x, previous))
            logits[b, t] = model.head.weight @ features + model.head.bias
    return logits


@pytest.mark.parametrize("name", sorted(n for n in MODELS if not n.startswith("stack")))
def test_forward_equals_plain_reference(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    with torch.no_grad():
        logits = model(TOKENS, LENGTHS, CATEGORIES)
        expected = _plain_reference(model)
    for b in range(TOKENS.size(0)):
        n = int(LENGTHS[b])
        torch.testing.assert_close(logits[b, :n], expected[b, :n], rtol=0, atol=1e-5)


def test_step_reproduces_forward(model: ConditionalLM[Any]) -> None:
    with torch.no_grad():
        logits = model(TOKENS, LENGTHS, CATEGORIES)
        state = model.initial_state(CATEGORIES)
        assert torch.equal(state.categories, CATEGORIES)
        assert bool((state.previous_output == 0).all())
        for t in range(TOKENS.size(1)):
            step_logits, state = model.step(TOKENS[:, t], state)
            assert step_logits.shape == (TOKENS.size(0), model.vocab_size)
            valid = t < LENGTHS
            torch.testing.assert_close(step_logits[valid], logits[valid, t], rtol=0, atol=1e-5)


def test_fused_and_unfused_models_agree(model: ConditionalLM[Any]) -> None:
    batch = collate_next_token(
        [(row[: int(n)].tolist(), int(c)) for row, n, c in zip(TOKENS, LENGTHS, CATEGORIES)],
        eos_id=V - 1,
    )
    model.recurrent.fused = True
    fused_loss = next_token_loss(model, batch)
    fused_grads = torch.autograd.grad(fused_loss.total, list(model.parameters()))
    model.recurrent.fused = False
    step_loss = next_token_loss(model, batch)
    step_grads = torch.autograd.grad(step_loss.total, list(model.parameters()))
    torch.testing.assert_close(fused_loss.total, step_loss.total, rtol=0, atol=1e-5)
    for a, b in zip(fused_grads, step_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_lstm_state_is_carried_by_step() -> None:
    model = MODELS["lstm-token-embedding-lecture-readout"]()
    state = model.initial_state(torch.tensor([0, 1]))
    assert isinstance(state.cell, LSTMState)
    _, state = model.step(torch.tensor([1, 2]), state)
    assert isinstance(state.cell, LSTMState) and state.cell.c.shape == (2, 6)
    assert torch.equal(state.previous_output, state.cell.h)


# Errors


def test_wrong_cell_input_size_names_the_expected_size() -> None:
    with pytest.raises(
        ValueError,
        match=r"cell.input_size must be 77 \(18 for the category \+ 59 for the token\), got 60",
    ):
        ConditionalLM(ElmanCell(60, 8), vocab_size=59, num_categories=18)
    with pytest.raises(ValueError, match=r"must be 8 \(3 for the category \+ 5 for the token\)"):
        ConditionalLM(
            GRUCell(9, 4), vocab_size=V, num_categories=K, embedding_dim=5, category_dim=3
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 0}, "vocab_size must be positive, got 0"),
        ({"num_categories": -1}, "num_categories must be positive, got -1"),
        ({"embedding_dim": 0}, "embedding sizes must be positive, got 0"),
        ({"readout": "hidden"}, "readout must be 'output' or 'input_and_previous_output'"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"vocab_size": V, "num_categories": K, **kwargs}
    with pytest.raises(ValueError, match=message):
        ConditionalLM(GRUCell(K + V, 4), **arguments)


def _tiny() -> ConditionalLM[Any]:
    return MODELS["elman-tanh-onehot"]()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda m: m(torch.tensor([[1, V]]), None, torch.tensor([0])),
            ValueError,
            rf"tokens must lie in \[0, {V}\), got values from 1 to {V}",
        ),
        (
            lambda m: m(torch.tensor([[1, -1]]), None, torch.tensor([0])),
            ValueError,
            r"tokens must lie in .*from -1 to 1",
        ),
        (
            lambda m: m(torch.tensor([[1, 2]]), None, torch.tensor([K])),
            ValueError,
            rf"categories must lie in \[0, {K}\), got values from {K} to {K}",
        ),
        (
            lambda m: m(torch.tensor([[1.0, 2.0]]), None, torch.tensor([0])),
            TypeError,
            "tokens must be an integer tensor",
        ),
        (
            lambda m: m(torch.tensor([[1, 2]]), None, torch.tensor([0.0])),
            TypeError,
            "categories must be an integer tensor",
        ),
        (
            lambda m: m(torch.tensor([1, 2]), None, torch.tensor([0])),
            ValueError,
            r"expected tokens of shape \(B, T\), got \(2,\)",
        ),
        (
            lambda m: m(torch.tensor([[1, 2]]), None, torch.tensor([[0]])),
            ValueError,
            r"expected categories of shape \(1,\), got \(1, 1\)",
        ),
        (
            lambda m: m(torch.tensor([[1, 2]]), torch.tensor([3]), torch.tensor([0])),
            ValueError,
            r"lengths must lie in \[0, 2\]",
        ),
        (
            lambda m: m.initial_state(torch.tensor([[0]])),
            ValueError,
            r"expected categories of shape \(B,\), got \(1, 1\)",
        ),
        (
            lambda m: m.initial_state(torch.tensor([K + 1])),
            ValueError,
            "categories must lie in",
        ),
        (
            lambda m: m.step(torch.tensor([1, 2]), m.initial_state(torch.tensor([0]))),
            ValueError,
            r"expected tokens of shape \(1,\), got \(2,\)",
        ),
        (
            lambda m: m.step(torch.tensor([V + 3]), m.initial_state(torch.tensor([0]))),
            ValueError,
            "tokens must lie in",
        ),
    ],
)
def test_bad_inputs_raise(
    call: Callable[[ConditionalLM[Any]], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        call(_tiny())


def test_cell_property_is_the_recurrent_cell() -> None:
    cell: Cell[Any] = GRUCell(K + V, 3)
    model = ConditionalLM(cell, vocab_size=V, num_categories=K)
    assert model.cell is cell and model.recurrent.cell is cell


def test_dropout_acts_in_training_only_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    model = ConditionalLM(
        GRUCell(3 + 4, 16), vocab_size=5, num_categories=3, embedding_dim=4, dropout=0.5
    )
    tokens = torch.randint(0, 5, (4, 6))
    categories = torch.randint(0, 3, (4,))
    model.eval()
    reference = model(tokens, None, categories)
    assert torch.equal(reference, model(tokens, None, categories))
    model.train()
    draws = torch.stack([model(tokens, None, categories).detach() for _ in range(2000)])
    assert not torch.equal(draws[0], draws[1])
    # The head is linear, so inverted dropout keeps the expected logits.
    torch.testing.assert_close(draws.mean(0), reference.detach(), atol=0.03, rtol=0)


def test_dropout_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.5"):
        ConditionalLM(GRUCell(3 + 5, 4), vocab_size=5, num_categories=3, dropout=1.5)
