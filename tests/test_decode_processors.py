"""Tests for seqlearn.decode.processors: each warper against its definition, by hand."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from seqlearn.decode import (
    BanTokens,
    LogitsProcessor,
    MinLength,
    MinP,
    RepetitionPenalty,
    StepInfo,
    Temperature,
    TopK,
    TopP,
    greedy,
    sample,
)

NONE = StepInfo.empty(1)


def probs_of(logits: Tensor) -> list[float]:
    return torch.softmax(logits.double(), dim=-1)[0].tolist()


def log_of(probs: list[float]) -> Tensor:
    return torch.tensor([probs], dtype=torch.float64).log()


def test_temperature_raises_probabilities_to_one_over_t() -> None:
    probs = [0.5, 0.3, 0.15, 0.05]
    for t in [0.25, 0.5, 1.0, 2.0, 7.0]:
        powered = [p ** (1 / t) for p in probs]
        expected = [q / sum(powered) for q in powered]
        assert probs_of(Temperature(t)(log_of(probs), NONE)) == pytest.approx(expected)


def test_top_k_keeps_the_k_most_likely_and_renormalises() -> None:
    probs = [0.1, 0.4, 0.2, 0.3]  # ranks: 1, 3, 2, 0
    for k, kept in [(1, [1]), (2, [1, 3]), (3, [1, 2, 3]), (4, [0, 1, 2, 3]), (9, [0, 1, 2, 3])]:
        mass = sum(probs[i] for i in kept)
        expected = [probs[i] / mass if i in kept else 0.0 for i in range(4)]
        assert probs_of(TopK(k)(log_of(probs), NONE)) == pytest.approx(expected)


def test_top_k_keeps_ties_with_the_kth() -> None:
    out = TopK(2)(torch.tensor([[1.0, 2.0, 1.0, 0.0]]), NONE)
    assert out.tolist() == [[1.0, 2.0, 1.0, -math.inf]]


@pytest.mark.parametrize(
    ("p", "kept"),
    [
        (0.01, [2]),  # the most likely token alone holds more than p
        (0.5, [2]),  # 0.5 reaches p exactly: nothing more is needed
        (0.6, [2, 0]),
        (0.75, [2, 0]),  # 0.5 + 0.25 reaches p exactly
        (0.8, [2, 0, 3]),
        (0.95, [2, 0, 3, 1]),
        (1.0, [2, 0, 3, 1]),
    ],
)
def test_top_p_keeps_the_smallest_set_holding_p(p: float, kept: list[int]) -> None:
    probs = [0.25, 0.1, 0.5, 0.15]  # in vocabulary order, not sorted
    mass = sum(probs[i] for i in kept)
    expected = [probs[i] / mass if i in kept else 0.0 for i in range(4)]
    assert probs_of(TopP(p)(log_of(probs), NONE)) == pytest.approx(expected)


def test_top_p_works_row_by_row() -> None:
    logits = log_of([0.7, 0.2, 0.1]).repeat(2, 1)
    logits[1] = logits[1].flip(0)  # second row: 0.1, 0.2, 0.7
    out = TopP(0.8)(logits, StepInfo.empty(2)).softmax(dim=-1)
    assert out.flatten().tolist() == pytest.approx([7 / 9, 2 / 9, 0.0, 0.0, 2 / 9, 7 / 9])


@pytest.mark.parametrize(
    ("p", "kept"),
    [
        (0.0, [0, 1, 2, 3]),
        (0.01, [0, 1, 2, 3]),  # threshold 0.006
        (0.05, [0, 1, 2]),  # threshold 0.03
        (0.5, [0, 1]),  # threshold 0.3
        (0.6, [0]),  # threshold 0.36
        (1.0, [0]),
    ],
)
def test_min_p_keeps_tokens_above_p_times_the_top(p: float, kept: list[int]) -> None:
    probs = [0.6, 0.35, 0.04, 0.01]  # kept: probability >= p * 0.6
    mass = sum(probs[i] for i in kept)
    expected = [probs[i] / mass if i in kept else 0.0 for i in range(4)]
    assert probs_of(MinP(p)(log_of(probs), NONE)) == pytest.approx(expected)


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits() -> None:
    logits = torch.tensor([[2.0, -1.0, 3.0, -2.0, 0.5], [2.0, -1.0, 3.0, -2.0, 0.5]])
    info = StepInfo(
        prefix=torch.tensor([[0, -1], [4, 4]]),  # -1 pads the shorter prefix
        generated=torch.tensor([[1, 1], [2, 0]]),
    )
    out = RepetitionPenalty(2.0)(logits, info)
    assert out.tolist() == [[1.0, -2.0, 3.0, -2.0, 0.5], [1.0, -1.0, 1.5, -2.0, 0.25]]
    assert RepetitionPenalty(1.0)(logits, info).equal(logits)


def test_ban_tokens_rules_them_out() -> None:
    probs = [0.4, 0.3, 0.2, 0.1]
    out = BanTokens([1, 3])(log_of(probs), NONE)
    assert probs_of(out) == pytest.approx([0.4 / 0.6, 0.0, 0.2 / 0.6, 0.0])
    assert BanTokens([])(log_of(probs), NONE).equal(log_of(probs))
    with pytest.raises(ValueError, match=re.escape("banned token ids in [0, 4), got 4")):
        BanTokens([4])(log_of(probs), NONE)


def test_min_length_forbids_eos_until_enough_tokens() -> None:
    logits = torch.zeros(2, 3)
    processor = MinLength(2, eos_id=1)
    for step, eos_allowed in [(0, False), (1, False), (2, True), (5, True)]:
        info = StepInfo(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, step, dtype=torch.long))
        out = processor(logits, info)
        assert out[:, 1].isfinite().all().item() is eos_allowed
        assert out[:, [0, 2]].eq(0).all()
    with pytest.raises(ValueError, match=re.escape("eos_id in [0, 3), got 3")):
        MinLength(1, eos_id=3)(logits, StepInfo.empty(2))


ALL: list[LogitsProcessor] = [
    Temperature(0.5),
    TopK(2),
    TopP(0.5),
    MinP(0.3),
    RepetitionPenalty(1.5),
    BanTokens([0]),
    MinLength(3, eos_id=1),
]


@pytest.mark.parametrize("processor", ALL, ids=repr)
def test_processors_leave_their_input_alone(processor: LogitsProcessor) -> None:
    logits = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    before = logits.clone()
    info = StepInfo(torch.tensor([[1], [2], [3]]), torch.tensor([[4], [0], [1]]))
    out = processor(logits, info)
    assert logits.equal(before)
    assert out.shape == logits.shape


BAD: list[tuple[str, Callable[[], object]]] = [
    ("temperature, got 0.0", lambda: Temperature(0.0)),
    ("temperature, got -1.0", lambda: Temperature(-1.0)),
    ("temperature, got nan", lambda: Temperature(math.nan)),
    ("temperature, got inf", lambda: Temperature(math.inf)),
    ("top_k >= 1, got 0", lambda: TopK(0)),
    ("top_k >= 1, got -2", lambda: TopK(-2)),
    ("top_p in (0, 1], got 0.0", lambda: TopP(0.0)),
    ("top_p in (0, 1], got 1.5", lambda: TopP(1.5)),
    ("top_p in (0, 1], got -0.1", lambda: TopP(-0.1)),
    ("top_p in (0, 1], got nan", lambda: TopP(math.nan)),
    ("min_p in [0, 1], got -0.1", lambda: MinP(-0.1)),
    ("min_p in [0, 1], got 1.1", lambda: MinP(1.1)),
    ("min_p in [0, 1], got nan", lambda: MinP(math.nan)),
    ("repetition penalty, got 0.0", lambda: RepetitionPenalty(0.0)),
    ("repetition penalty, got -2.0", lambda: RepetitionPenalty(-2.0)),
    ("token_ids[1] = -1", lambda: BanTokens([2, -1])),
    ("min_new_tokens >= 0, got -1", lambda: MinLength(-1, eos_id=0)),
    ("eos_id >= 0, got -3", lambda: MinLength(1, eos_id=-3)),
]


@pytest.mark.parametrize(("needle", "build"), BAD, ids=[needle for needle, _ in BAD])
def test_bad_arguments_raise_value_error_naming_them(
    needle: str, build: Callable[[], object]
) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        build()


class Uniform:
    """Every token equally likely, whatever came before."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros(len(tokens), self.vocab_size), state


def test_processors_run_in_the_given_order_on_the_rows_being_decoded() -> None:
    seen: list[tuple[str, int, list[list[int]], list[list[int]]]] = []

    def recorder(name: str) -> LogitsProcessor:
        def record(logits: Tensor, info: StepInfo) -> Tensor:
            seen.append((name, info.step, info.prefix.tolist(), info.generated.tolist()))
            return logits

        return record

    def count_up(logits: Tensor, info: StepInfo) -> Tensor:  # next token: step + 1
        return logits.index_fill(1, torch.tensor([info.step + 1]), 10.0)

    out = greedy(
        Uniform(6),
        torch.zeros(2),
        [[3], [4, 5]],
        eos_id=0,
        max_new_tokens=3,
        processors=[recorder("a"), count_up, recorder("b")],
    )
    assert out.new_tokens == [[1, 2, 3], [1, 2, 3]]
    prefix = [[3, -1], [4, 5]]
    assert seen == [
        ("a", 0, prefix, [[], []]),
        ("b", 0, prefix, [[], []]),
        ("a", 1, prefix, [[1], [1]]),
        ("b", 1, prefix, [[1], [1]]),
        ("a", 2, prefix, [[1, 2], [1, 2]]),
        ("b", 2, prefix, [[1, 2], [1, 2]]),
    ]


def test_a_ban_and_min_length_shape_samples() -> None:
    out = sample(
        Uniform(5),
        torch.zeros(200),
        [[1]] * 200,
        eos_id=0,
        max_new_tokens=6,
        processors=[BanTokens([2, 3]), MinLength(2, eos_id=0)],
        generator=torch.Generator().manual_seed(0),
    )
    assert all(2 not in new and 3 not in new for new in out.new_tokens)
    assert min(len(new) for new in out.new_tokens) >= 2
    assert {len(new) for new in out.new_tokens} != {6}  # EOS still comes after the minimum
    # The reported log-probabilities are the model's: uniform over 5 tokens.
    assert out.token_logprobs[0] == pytest.approx([math.log(0.2)] * len(out.token_logprobs[0]))
