"""Tests for seqlearn.decode.generate: greedy decoding and sampling over the one-step protocol."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple, TypeVar

import pytest
import torch
from torch import Tensor

from seqlearn.decode import (
    Generation,
    LogitsProcessor,
    MinLength,
    StepInfo,
    StepModel,
    Temperature,
    TopK,
    TopP,
)
from seqlearn.decode.generate import greedy, sample
from seqlearn.nn.state import select_rows

EOS = 0
StateT = TypeVar("StateT")


class Bigram(torch.nn.Module):
    """Logits depend on the current token only; the state is the last token, shape (B,)."""

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(table)  # (V, V)
        self.head = torch.nn.Dropout(0.5)  # a submodule, to check that modes are restored
        self.seen_training: list[bool] = []
        self.seen_inference: list[bool] = []

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.seen_training.append(self.training or self.head.training)
        self.seen_inference.append(torch.is_inference_mode_enabled())
        return self.table[tokens], tokens


def cycle_table(vocab_size: int) -> Tensor:
    """Token i is followed by token (i + 1) % vocab_size, so token vocab_size - 1 ends."""
    return torch.eye(vocab_size).roll(1, dims=1) * 5.0


class CountState(NamedTuple):
    row: Tensor  # (B,) the original row, so the test can follow rows as the batch shrinks
    steps: Tensor  # (B, 1) steps taken so far


class Counter:
    """Counts its steps in the state; the most likely next token is the count modulo V."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.calls: list[tuple[list[int], list[int]]] = []  # (rows, tokens) per step

    def step(self, tokens: Tensor, state: CountState) -> tuple[Tensor, CountState]:
        assert isinstance(state, CountState)
        self.calls.append((state.row.tolist(), tokens.tolist()))
        count = state.steps + 1  # (B, 1)
        top = count.squeeze(1).long() % self.vocab_size  # (B,)
        logits = 100.0 * torch.nn.functional.one_hot(top, self.vocab_size).float()  # (B, V)
        return logits, CountState(state.row, count)

    def fed(self, rows: int) -> list[list[int]]:
        """The tokens fed to each original row, in order."""
        fed: list[list[int]] = [[] for _ in range(rows)]
        for call_rows, call_tokens in self.calls:
            for row, token in zip(call_rows, call_tokens, strict=True):
                fed[row].append(token)
        return fed


def count_state(counts: Sequence[int]) -> CountState:
    return CountState(
        torch.arange(len(counts)), torch.tensor(counts, dtype=torch.float).view(-1, 1)
    )


class RNNState(NamedTuple):
    h: Tensor  # (B, H)
    category: Tensor  # (B,) the conditioning, carried unchanged as in the lecture's RNN


class TinyRNN(torch.nn.Module):
    """A random Elman RNN conditioned on a category, with chaotic enough dynamics that
    greedy outputs vary in content and length."""

    def __init__(self, vocab_size: int, hidden_size: int, num_categories: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.embed = torch.nn.Embedding(vocab_size, hidden_size, dtype=torch.float64)
        self.category = torch.nn.Embedding(num_categories, hidden_size, dtype=torch.float64)
        self.cell = torch.nn.RNNCell(hidden_size, hidden_size, dtype=torch.float64)
        self.head = torch.nn.Linear(hidden_size, vocab_size, dtype=torch.float64)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
            random = torch.randn(hidden_size, hidden_size, generator=generator)
            self.cell.weight_hh.copy_(2.0 * torch.linalg.qr(random.double())[0])
            self.head.weight.mul_(2.0)
            self.head.bias[EOS] -= 3.0  # rows end by EOS after different numbers of steps

    def initial_state(self, categories: Tensor) -> RNNState:
        return RNNState(torch.tanh(self.category(categories)), categories)  # (B, H), (B,)

    def step(self, tokens: Tensor, state: RNNState) -> tuple[Tensor, RNNState]:
        inputs = self.embed(tokens) + self.category(state.category)  # (B, H)
        h = self.cell(inputs, state.h)  # (B, H)
        return self.head(h), RNNState(h, state.category)  # (B, V)


def reference_greedy(
    model: StepModel[StateT],
    state: StateT,
    prefix: list[int],
    *,
    eos_id: int,
    max_new_tokens: int,
    logprobs: list[float] | None = None,
) -> tuple[list[int], bool]:
    """The lecture's generate_name_greedy for one row, carrying the state between steps.

    Appends the log-softmax of each chosen token (EOS included) to ``logprobs`` if given.
    """
    chosen = [] if logprobs is None else logprobs
    with torch.no_grad():
        for token in prefix[:-1]:
            _, state = model.step(torch.tensor([token]), state)
        output = list(prefix)
        current = prefix[-1]
        for _ in range(max_new_tokens):
            logits, state = model.step(torch.tensor([current]), state)
            top = int(logits[0].argmax())
            chosen.append(float(torch.log_softmax(logits[0], dim=0)[top]))
            if top == eos_id:
                return output, True
            output.append(top)
            current = top
        return output, False


PREFIXES = [[3], [5, 1, 7], [2, 2], [9, 8, 7, 6, 5], [1], [4, 4, 4, 4], [6, 3], [8]]


@pytest.fixture
def rnn() -> TinyRNN:
    return TinyRNN(vocab_size=10, hidden_size=16, num_categories=3)


def rnn_state(model: TinyRNN, rows: int) -> RNNState:
    return model.initial_state(torch.arange(rows) % 3)


@pytest.mark.parametrize("max_new_tokens", [1, 4, 20])
def test_greedy_matches_reference_loop(rnn: TinyRNN, max_new_tokens: int) -> None:
    state = rnn_state(rnn, len(PREFIXES))
    out = greedy(rnn, state, PREFIXES, eos_id=EOS, max_new_tokens=max_new_tokens)
    for row, prefix in enumerate(PREFIXES):
        row_state = select_rows(state, torch.tensor([row]))
        logprobs: list[float] = []
        tokens, finished = reference_greedy(
            rnn, row_state, prefix, eos_id=EOS, max_new_tokens=max_new_tokens, logprobs=logprobs
        )
        assert out.tokens[row] == tokens
        assert out.new_tokens[row] == tokens[len(prefix) :]
        assert out.finished[row] == finished
        assert out.stop_reasons[row] == ("eos" if finished else "max_length")
        assert out.token_logprobs[row] == pytest.approx(logprobs, abs=1e-12)
        assert out.logprobs[row] == pytest.approx(math.fsum(logprobs), abs=1e-12)
    assert any(out.finished) and not all(out.finished)  # some rows end by EOS, some do not


def test_bigram_greedy_matches_reference_loop() -> None:
    model = Bigram(torch.randn(10, 10, generator=torch.Generator().manual_seed(1)))
    state = torch.zeros(len(PREFIXES), dtype=torch.long)
    out = greedy(model, state, PREFIXES, eos_id=EOS, max_new_tokens=6)
    for row, prefix in enumerate(PREFIXES):
        expected = reference_greedy(
            model, state[row : row + 1], prefix, eos_id=EOS, max_new_tokens=6
        )
        assert (out.tokens[row], out.finished[row]) == expected


@pytest.mark.parametrize("decode", [greedy, partial(sample, temperature=1e-6)])
def test_batch_equals_one_row_at_a_time(rnn: TinyRNN, decode: Callable[..., Generation]) -> None:
    def run(state: RNNState, prefixes: list[list[int]]) -> Generation:
        return decode(rnn, state, prefixes, eos_id=EOS, max_new_tokens=12)

    state = rnn_state(rnn, len(PREFIXES))
    batched = run(state, PREFIXES)
    for row, prefix in enumerate(PREFIXES):
        single = run(select_rows(state, torch.tensor([row])), [prefix])
        assert single.tokens == [batched.tokens[row]]
        assert single.stop_reasons == [batched.stop_reasons[row]]
        assert single.token_logprobs[0] == pytest.approx(batched.token_logprobs[row], abs=1e-12)


def expected_counts(
    start: int, feed_length: int, vocab_size: int, max_new_tokens: int
) -> tuple[list[int], bool]:
    """New tokens of Counter: count modulo V after each step, until 0 (EOS) or the limit."""
    new: list[int] = []
    count = start + feed_length
    while len(new) < max_new_tokens:
        if count % vocab_size == EOS:
            return new, True
        new.append(count % vocab_size)
        count += 1
    return new, False


@pytest.mark.parametrize("decode", [greedy, sample])
@pytest.mark.parametrize("bos_id", [None, 9])
def test_state_is_carried_and_prefix_fed_once(
    decode: Callable[..., Generation], bos_id: int | None
) -> None:
    vocab_size, max_new_tokens = 10, 6
    starts = [0, 3, 7, 5, 1]
    prefixes = [[1], [4, 2], [5, 5, 5, 5], [8, 1, 2], [3]]
    model = Counter(vocab_size)
    out = decode(
        model,
        count_state(starts),
        prefixes,
        eos_id=EOS,
        max_new_tokens=max_new_tokens,
        bos_id=bos_id,
    )
    bos = [] if bos_id is None else [bos_id]
    fed = model.fed(len(prefixes))
    for row, (start, prefix) in enumerate(zip(starts, prefixes, strict=True)):
        new, finished = expected_counts(start, len(bos + prefix), vocab_size, max_new_tokens)
        assert (out.new_tokens[row], out.finished[row]) == (new, finished)
        assert out.tokens[row] == prefix + new
        # The prefix goes in once; then each new token but the one that hit the limit.
        assert fed[row] == bos + prefix + (new if finished else new[:-1])
    # The prefixes go in first, all rows together, each row leaving once its prefix is in;
    # then all rows generate together, each leaving as soon as it is done.
    feed_lengths = [len(bos + prefix) for prefix in prefixes]
    generated = [len(fed[row]) - feed_lengths[row] for row in range(len(prefixes))]
    expected = [
        [row for row, length in enumerate(feed_lengths) if length > t]
        for t in range(max(feed_lengths))
    ] + [
        [row for row, count in enumerate(generated) if count >= k]
        for k in range(1, max(generated) + 1)
    ]
    assert [sorted(rows) for rows, _ in model.calls] == expected


def test_empty_prefix_uses_bos() -> None:
    model = Bigram(cycle_table(5))
    out = greedy(model, torch.zeros(2), [[], [3]], eos_id=4, max_new_tokens=9, bos_id=1)
    assert (out.tokens, out.new_tokens, out.finished) == ([[2, 3], [3]], [[2, 3], []], [True] * 2)


def test_eos_stops_row_and_is_excluded() -> None:
    model = Bigram(cycle_table(6))  # 1 -> 2 -> ... -> 5 -> 0 (EOS)
    out = greedy(model, torch.zeros(3), [[1], [4], [5]], eos_id=EOS, max_new_tokens=10)
    assert out.tokens == [[1, 2, 3, 4, 5], [4, 5], [5]]
    assert out.new_tokens == [[2, 3, 4, 5], [5], []]
    assert out.finished == [True, True, True]


@pytest.mark.parametrize("max_new_tokens", [1, 3, 7])
def test_max_new_tokens_is_respected(max_new_tokens: int) -> None:
    table = torch.zeros(4, 4)
    table[1, 2] = table[2, 1] = table[3, 3] = 1.0  # never EOS (0)
    out = greedy(
        Bigram(table), torch.zeros(3), [[1], [2, 2], [3]], eos_id=EOS, max_new_tokens=max_new_tokens
    )
    assert [len(new) for new in out.new_tokens] == [max_new_tokens] * 3
    assert out.finished == [False] * 3
    assert out.new_tokens[0] == [2, 1, 2, 1, 2, 1, 2][:max_new_tokens]


def test_sample_is_reproducible_with_a_seeded_generator(rnn: TinyRNN) -> None:
    state = rnn_state(rnn, len(PREFIXES))

    def draw(seed: int) -> Generation:
        generator = torch.Generator().manual_seed(seed)
        return sample(
            rnn,
            state,
            PREFIXES,
            eos_id=EOS,
            max_new_tokens=15,
            temperature=2.0,
            generator=generator,
        )

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


def test_sample_at_low_temperature_equals_greedy(rnn: TinyRNN) -> None:
    state = rnn_state(rnn, len(PREFIXES))
    expected = greedy(rnn, state, PREFIXES, eos_id=EOS, max_new_tokens=15)
    generator = torch.Generator().manual_seed(0)
    out = sample(
        rnn, state, PREFIXES, eos_id=EOS, max_new_tokens=15, temperature=1e-8, generator=generator
    )
    assert out == expected


class FixedLogits:
    """The same next-token logits for every row and every step."""

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits  # (V,)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.logits.expand(len(tokens), -1), state


def chi_square(observed: Tensor, probs: Tensor) -> float:
    expected = probs * observed.sum()
    return float(((observed - expected) ** 2 / expected).sum())


def test_sample_frequencies_follow_softmax_over_temperature() -> None:
    draws, temperature = 20_000, 0.7
    logits = torch.tensor([1.0, 0.5, -0.3, 2.0])
    generator = torch.Generator().manual_seed(1234)
    out = sample(
        FixedLogits(logits),
        torch.zeros(draws, 1),
        [[1]] * draws,
        eos_id=EOS,
        max_new_tokens=1,
        temperature=temperature,
        generator=generator,
    )
    first = [new[0] if new else EOS for new in out.new_tokens]
    assert out.finished == [new == [] for new in out.new_tokens]
    observed = torch.bincount(torch.tensor(first), minlength=4).double()
    # 3 degrees of freedom: P(chi2 > 25) is about 2e-5.
    assert chi_square(observed, torch.softmax(logits.double() / temperature, 0)) < 25.0
    assert chi_square(observed, torch.softmax(logits.double(), 0)) > 100.0  # the test has power


BadCall = Callable[[], Generation]


def bad_calls() -> list[tuple[str, BadCall]]:
    model = FixedLogits(torch.zeros(5))  # ignores its tokens, so every check is reached
    state = torch.zeros(2)

    def run(**kwargs: object) -> BadCall:
        options: dict[str, object] = {"eos_id": EOS, "max_new_tokens": 3, "prefixes": [[1], [2]]}
        options.update(kwargs)
        prefixes = options.pop("prefixes")
        if "temperature" in options:
            return lambda: sample(model, state, prefixes, **options)  # type: ignore[arg-type]
        return lambda: greedy(model, state, prefixes, **options)  # type: ignore[arg-type]

    return [
        ("0.0", run(temperature=0.0)),
        ("-1.5", run(temperature=-1.5)),
        ("nan", run(temperature=math.nan)),
        ("inf", run(temperature=math.inf)),
        ("max_new_tokens >= 1, got 0", run(max_new_tokens=0)),
        ("len(prefixes) = 3", run(prefixes=[[1], [2], [3]])),
        ("prefixes[1][0] = 5", run(prefixes=[[1], [5]])),
        ("prefixes[1][1] = 5", run(prefixes=[[1], [2, 5]])),
        ("prefixes[0][1] = -1", run(prefixes=[[1, -1], [2]])),
        ("prefixes[1] is empty", run(prefixes=[[1], []])),
        ("eos_id in [0, 5), got 5", run(eos_id=5)),
        ("eos_id >= 0, got -1", run(eos_id=-1)),
        ("bos_id in [0, 5), got 7", run(bos_id=7)),
        ("bos_id >= 0, got -2", run(bos_id=-2)),
    ]


@pytest.mark.parametrize("index", range(len(bad_calls())))
def test_bad_input_raises_value_error_naming_the_value(index: int) -> None:
    needle, call = bad_calls()[index]
    with pytest.raises(ValueError, match=re.escape(needle)):
        call()


def test_bad_logits_shape_raises() -> None:
    class Wrong:
        def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
            return torch.zeros(len(tokens) + 1, 3), state

    with pytest.raises(ValueError, match=re.escape("(2, V), got (3, 3)")):
        greedy(Wrong(), torch.zeros(2), [[1], [2]], eos_id=EOS, max_new_tokens=2)


def test_state_without_tensor_raises_type_error() -> None:
    with pytest.raises(TypeError, match="holding a tensor"):
        no_tensor = ()  # deliberately not a state tree of tensors
        greedy(FixedLogits(torch.zeros(3)), no_tensor, [[1]], eos_id=EOS, max_new_tokens=2)  # type: ignore[misc]


@pytest.mark.parametrize("training", [True, False])
def test_modes_are_set_during_decoding_and_restored(training: bool) -> None:
    model = Bigram(cycle_table(5))
    model.train(training)
    model.head.train(not training)  # mixed modes come back as they were
    greedy(model, torch.zeros(2), [[1], [2]], eos_id=EOS, max_new_tokens=3)
    assert model.seen_training and not any(model.seen_training)
    assert all(model.seen_inference)
    assert (model.training, model.head.training) == (training, not training)
    with pytest.raises(ValueError, match="prefixes"):  # raised after the first step
        greedy(model, torch.zeros(2), [[1], [2, 9]], eos_id=EOS, max_new_tokens=3)
    assert (model.training, model.head.training) == (training, not training)


def test_empty_batch() -> None:
    model = Counter(5)
    empty = Generation([], [], [], [], [], [], None)
    assert greedy(model, count_state([]), [], eos_id=EOS, max_new_tokens=3) == empty
    assert sample(model, count_state([]), [], eos_id=EOS, max_new_tokens=3) == empty
    assert model.calls == []


class SecondOrder(torch.nn.Module):
    """Next-token logits from a table over the previous and the current token.

    The state is the previous token ``(B,)``; ``table[p, c]`` holds the logits after ``p, c``,
    so the probability of any sequence is known exactly.
    """

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.table = table  # (V, V, V)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return self.table[state, tokens], tokens

    def sequences(
        self,
        previous: int,
        prefix: list[int],
        max_new_tokens: int,
        processors: Sequence[LogitsProcessor] = (),
    ) -> dict[tuple[int, ...], float]:
        """Exact probability of every continuation (EOS included where it ends)."""
        out: dict[tuple[int, ...], float] = {}

        def grow(before: int, current: int, new: tuple[int, ...], p: float) -> None:
            logits = self.table[before, current].unsqueeze(0).double()  # (1, V)
            info = step_info(prefix, new)
            for processor in processors:
                logits = processor(logits, info)
            probs = torch.softmax(logits[0], 0).tolist()
            for token, q in enumerate(probs):
                if q == 0.0:
                    continue
                if token == EOS:
                    out[(*new, EOS)] = p * q
                elif len(new) + 1 == max_new_tokens:
                    out[(*new, token)] = p * q
                else:
                    grow(current, token, (*new, token), p * q)

        grow(prefix[-2] if len(prefix) > 1 else previous, prefix[-1], (), 1.0)
        return out


def step_info(prefix: list[int], new: tuple[int, ...]) -> StepInfo:
    """What a processor sees for one row."""
    return StepInfo(torch.tensor([prefix]), torch.tensor([list(new)], dtype=torch.long))


def second_order(vocab_size: int = 4, seed: int = 3) -> SecondOrder:
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(
        vocab_size, vocab_size, vocab_size, generator=generator, dtype=torch.float64
    )
    table[..., EOS] -= 0.5
    return SecondOrder(table)


def chi_square_p_value(statistic: float, df: int) -> float:
    """P(X >= statistic) for X chi-square with ``df`` degrees of freedom.

    The regularised lower incomplete gamma function by its power series,
    P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n)), a = df / 2.
    """
    a, x = df / 2.0, statistic / 2.0
    if x <= 0:
        return 1.0
    term = total = 1.0
    n = 0
    while term > 1e-17 * total:
        n += 1
        term *= x / (a + n)
        total += term
    lower = math.exp(a * math.log(x) - x - math.lgamma(a + 1.0)) * total
    return max(0.0, 1.0 - lower)


def test_chi_square_p_value_matches_tables() -> None:
    # Tabulated quantiles: 1 df 3.841 (p 0.05); 3 df 21.108, 10 df 35.564, 30 df 67.633 (1e-4).
    for statistic, df, p in [(3.841, 1, 0.05), (21.108, 3, 1e-4), (35.564, 10, 1e-4)]:
        assert chi_square_p_value(statistic, df) == pytest.approx(p, rel=1e-3)
    assert chi_square_p_value(67.633, 30) == pytest.approx(1e-4, rel=1e-3)


def sequence_chi_square(
    observed: dict[tuple[int, ...], int], probs: dict[tuple[int, ...], float]
) -> tuple[float, int]:
    """Pearson's statistic over sequences (rare ones pooled) and its degrees of freedom."""
    draws = sum(observed.values())
    assert set(observed) <= set(probs)  # nothing drawn that the distribution rules out
    common = [key for key, p in probs.items() if p * draws >= 5]
    cells = [(observed.get(key, 0), probs[key] * draws) for key in common]
    rare_observed = draws - sum(count for count, _ in cells)
    rare_expected = draws - sum(expected for _, expected in cells)
    if rare_expected >= 5:
        cells.append((rare_observed, rare_expected))
    statistic = sum((count - expected) ** 2 / expected for count, expected in cells)
    return statistic, len(cells) - 1


PROCESSOR_CHAINS: list[tuple[str, float, list[LogitsProcessor]]] = [
    ("plain", 1.0, []),
    ("temperature", 0.6, []),
    ("top-k", 1.0, [TopK(2)]),
    ("temperature, top-p", 1.5, [TopP(0.8)]),
]


@pytest.mark.parametrize(("name", "temperature", "chain"), PROCESSOR_CHAINS)
def test_sequence_frequencies_match_the_model(
    name: str, temperature: float, chain: list[LogitsProcessor]
) -> None:
    model, draws, max_new_tokens = second_order(), 20_000, 3
    prefix = [2, 1]
    out = sample(
        model,
        torch.zeros(1, dtype=torch.long),
        [prefix],
        eos_id=EOS,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        processors=chain,
        num_samples=draws,
        generator=torch.Generator().manual_seed(7),
    )
    observed: dict[tuple[int, ...], int] = {}
    for new, finished in zip(out.new_tokens, out.finished, strict=True):
        key = (*new, EOS) if finished else tuple(new)
        observed[key] = observed.get(key, 0) + 1
    full_chain = [Temperature(temperature), *chain]
    probs = model.sequences(0, prefix, max_new_tokens, full_chain)
    assert sum(probs.values()) == pytest.approx(1.0)
    statistic, df = sequence_chi_square(observed, probs)
    assert df >= 5, "enough distinct sequences to test"
    p_value = chi_square_p_value(statistic, df)
    print(f"{name}: chi-square {statistic:.1f}, {df} df, p = {p_value:.3f}")
    assert p_value > 1e-4, name  # a correct sampler fails once in 10,000 seeds
    # The test has power: the unprocessed model's distribution is rejected.
    if chain or temperature != 1.0:
        raw = model.sequences(0, prefix, max_new_tokens)
        assert chi_square_p_value(*sequence_chi_square(observed, raw)) < 1e-12


def test_sample_logprobs_are_the_models_before_processors() -> None:
    model, max_new_tokens = second_order(), 4
    prefixes = [[1], [2, 3], [3, 3, 1]]
    state = torch.tensor([0, 2, 3])
    out = sample(
        model,
        state,
        prefixes,
        eos_id=EOS,
        max_new_tokens=max_new_tokens,
        temperature=0.3,
        processors=[TopK(2)],
        num_samples=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(out.tokens) == 15
    for index, tokens in enumerate(out.tokens):
        row = index // 5
        assert tokens[: len(prefixes[row])] == prefixes[row]
        path = [int(state[row]), *tokens, *([EOS] if out.finished[index] else [])]
        start = len(prefixes[row])  # path[start] is the first new token
        expected = [
            float(torch.log_softmax(model.table[path[t - 2], path[t - 1]], 0)[path[t]])
            for t in range(start + 1, len(path))
        ]
        assert out.token_logprobs[index] == pytest.approx(expected, abs=1e-12)
        assert out.logprobs[index] == pytest.approx(sum(expected), abs=1e-12)
        assert len(out.token_logprobs[index]) == len(out.new_tokens[index]) + out.finished[index]


def test_top_k_one_equals_greedy(rnn: TinyRNN) -> None:
    state = rnn_state(rnn, len(PREFIXES))
    expected = greedy(rnn, state, PREFIXES, eos_id=EOS, max_new_tokens=15)
    out = sample(
        rnn,
        state,
        PREFIXES,
        eos_id=EOS,
        max_new_tokens=15,
        temperature=3.0,
        processors=[TopK(1)],
        generator=torch.Generator().manual_seed(0),
    )
    assert out == expected


def test_num_samples_feeds_each_prefix_once_and_groups_rows() -> None:
    model = Counter(10)
    prefixes = [[1], [4, 2], [5, 5, 5]]
    out = sample(
        model,
        count_state([0, 3, 7]),
        prefixes,
        eos_id=EOS,
        max_new_tokens=4,
        num_samples=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert [tokens[: len(prefixes[i // 3])] for i, tokens in enumerate(out.tokens)] == [
        prefix for prefix in prefixes for _ in range(3)
    ]
    # Calls before generation: the prefixes, one row per prompt, not per sample.
    prefix_calls = model.calls[:3]
    assert [sorted(rows) for rows, _ in prefix_calls] == [[0, 1, 2], [1, 2], [2]]
    # Then 3 rows per prompt (prompt 2 drew EOS first, so it is not stepped again).
    assert sorted(model.calls[3][0]) == [0, 0, 0, 1, 1, 1]
    # Counter's logits are one-hot, so every sample of a prompt is the same sequence.
    for prompt in range(3):
        assert len({tuple(t) for t in out.tokens[3 * prompt : 3 * prompt + 3]}) == 1


def test_sample_is_reproducible_with_num_samples_and_mixed_prefixes() -> None:
    model = second_order(vocab_size=6)
    state = torch.tensor([0, 1, 2])

    def draw(seed: int) -> Generation:
        return sample(
            model,
            state,
            [[1], [2, 3, 4], [5, 1]],
            eos_id=EOS,
            max_new_tokens=6,
            num_samples=4,
            processors=[TopP(0.9)],
            generator=torch.Generator().manual_seed(seed),
        )

    assert draw(3) == draw(3)
    assert draw(3).tokens != draw(4).tokens


def test_processors_apply_to_greedy() -> None:
    model = Bigram(cycle_table(6))  # 1 -> 2 -> ... -> 5 -> 0 (EOS)
    out = greedy(
        model,
        torch.zeros(2),
        [[4], [2]],
        eos_id=EOS,
        max_new_tokens=8,
        processors=[MinLength(3, eos_id=EOS)],
    )
    # Row 0 would stop after [5]; EOS is forbidden for 3 tokens, so the argmax of the
    # others (all equal, so the first: 1) comes next, and the cycle runs on to EOS.
    assert out.new_tokens[0] == [5, 1, 2, 3, 4, 5]
    assert out.new_tokens[1] == [3, 4, 5]
    # The log-probabilities stay the model's: the forced tokens are unlikely.
    assert out.token_logprobs[0][1] < -4.0


def test_decode_fills_texts() -> None:
    model = Bigram(cycle_table(6))
    letters = "_abcde"
    out = greedy(
        model,
        torch.zeros(2),
        [[1], [3, 4]],
        eos_id=EOS,
        max_new_tokens=8,
        decode=lambda ids: "".join(letters[i] for i in ids),
    )
    assert out.texts == ["abcde", "cde"]
    assert greedy(model, torch.zeros(1), [[1]], eos_id=EOS, max_new_tokens=8).texts is None


@pytest.mark.parametrize("num_samples", [0, -3])
def test_bad_num_samples_raises(num_samples: int) -> None:
    with pytest.raises(ValueError, match=f"num_samples >= 1, got {num_samples}"):
        sample(
            FixedLogits(torch.zeros(3)),
            torch.zeros(1),
            [[1]],
            eos_id=EOS,
            max_new_tokens=2,
            num_samples=num_samples,
        )
