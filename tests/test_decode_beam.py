"""Tests for seqlearn.decode.beam: beam search against exhaustive search and greedy."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence

import pytest
import torch
from torch import Tensor

from seqlearn.decode import (
    BanTokens,
    LogitsProcessor,
    MinLength,
    RepetitionPenalty,
    StepInfo,
    Temperature,
    beam_search,
    greedy,
)
from seqlearn.nn.state import select_rows

EOS = 0


class Table:
    """Logits from a hand-made table over the previous and the current token.

    The state is the previous token ``(B,)``, so every sequence has a known probability.
    """

    def __init__(self, table: Tensor) -> None:
        self.table = table  # (V, V, V): table[p, c] holds the logits after tokens p, c
        self.rows: list[int] = []  # rows of each step

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.rows.append(len(tokens))
        return self.table[state, tokens], tokens

    def logprob(
        self,
        previous: int,
        prefix: Sequence[int],
        new: Sequence[int],
        processors: Sequence[LogitsProcessor] = (),
    ) -> float:
        """log P(new | prompt) under the model (after ``processors``), token by token."""
        path = [previous, *prefix, *new]
        start = 1 + len(prefix)
        total = []
        for t in range(start, len(path)):
            logits = self.table[path[t - 2], path[t - 1]].unsqueeze(0)  # (1, V)
            generated = torch.tensor([path[start:t]], dtype=torch.long)
            info = StepInfo(torch.tensor([list(prefix)]), generated)
            for processor in processors:
                logits = processor(logits, info)
            total.append(float(torch.log_softmax(logits[0], 0)[path[t]]))
        return math.fsum(total)


def random_table(vocab_size: int, seed: int) -> Table:
    generator = torch.Generator().manual_seed(seed)
    table = 1.5 * torch.randn(vocab_size, vocab_size, vocab_size, generator=generator)
    return Table(table.double())


def exhaustive(
    model: Table,
    previous: int,
    prefix: Sequence[int],
    max_new_tokens: int,
    length_penalty: float,
    processors: Sequence[LogitsProcessor] = (),
) -> list[tuple[float, tuple[int, ...], float]]:
    """Every continuation with (score, tokens with EOS if any, log-probability), best first.

    The score ranks by the log-probability after ``processors``; the log-probability
    reported is the model's.
    """
    vocab_size = model.table.shape[0]
    letters = [token for token in range(vocab_size) if token != EOS]
    found = []
    for length in range(max_new_tokens + 1):
        for body in itertools.product(letters, repeat=length):
            new = (*body, EOS) if length < max_new_tokens else body
            ranking = model.logprob(previous, prefix, new, processors)
            if math.isinf(ranking):
                continue  # ruled out by a processor
            found.append(
                (ranking / len(new) ** length_penalty, new, model.logprob(previous, prefix, new))
            )
    return sorted(found, reverse=True)


PROMPTS = [(0, [1]), (2, [3, 1]), (1, [2, 2, 3]), (3, [2])]


CHAINS: dict[str, list[LogitsProcessor]] = {
    "none": [],
    "repetition": [RepetitionPenalty(3.0)],
    "min-length, temperature": [MinLength(2, eos_id=EOS), Temperature(0.5)],
}


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("length_penalty", [0.0, 0.5, 1.0, -0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wide_beam_finds_the_exhaustive_best(
    length_penalty: float, seed: int, chain: str
) -> None:
    model, max_new_tokens, returned = random_table(4, seed), 4, 5
    processors = CHAINS[chain]
    # 3 letters and EOS, at most 4 tokens: 121 continuations, 27 live prefixes at most.
    out = beam_search(
        model,
        torch.tensor([previous for previous, _ in PROMPTS]),
        [prefix for _, prefix in PROMPTS],
        eos_id=EOS,
        max_new_tokens=max_new_tokens,
        beam_width=128,
        num_return_sequences=returned,
        length_penalty=length_penalty,
        processors=processors,
    )
    for index, (previous, prefix) in enumerate(PROMPTS):
        found = exhaustive(model, previous, prefix, max_new_tokens, length_penalty, processors)
        best = found[:returned]
        rows = range(index * returned, (index + 1) * returned)
        got = [(*out.new_tokens[row], *([EOS] if out.finished[row] else [])) for row in rows]
        assert got == [tokens for _, tokens, _ in best]
        assert [out.logprobs[row] for row in rows] == pytest.approx(
            [logprob for _, _, logprob in best], abs=1e-9
        )
        for row in rows:
            assert out.tokens[row] == [*prefix, *out.new_tokens[row]]
            assert out.stop_reasons[row] == ("eos" if out.finished[row] else "max_length")
            assert math.fsum(out.token_logprobs[row]) == pytest.approx(out.logprobs[row])
            assert len(out.token_logprobs[row]) == len(out.new_tokens[row]) + out.finished[row]


def test_the_search_covers_both_stop_reasons() -> None:
    model = random_table(4, 0)
    model.table[..., EOS] -= 3.0  # EOS unlikely: the length limit wins often
    out = beam_search(
        model,
        torch.tensor([0]),
        [[1]],
        eos_id=EOS,
        max_new_tokens=3,
        beam_width=64,
        num_return_sequences=20,
    )
    assert set(out.stop_reasons) == {"eos", "max_length"}
    best = exhaustive(model, 0, [1], 3, 0.0)[:20]
    assert out.logprobs == pytest.approx([logprob for _, _, logprob in best], abs=1e-9)


class TinyRNN(torch.nn.Module):
    """A random Elman RNN whose greedy outputs vary in content and length."""

    def __init__(self, vocab_size: int = 10, hidden_size: int = 16) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.embed = torch.nn.Embedding(vocab_size, hidden_size, dtype=torch.float64)
        self.cell = torch.nn.RNNCell(hidden_size, hidden_size, dtype=torch.float64)
        self.head = torch.nn.Linear(hidden_size, vocab_size, dtype=torch.float64)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
            self.head.bias[EOS] -= 3.0

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = self.cell(self.embed(tokens), state)  # (B, H)
        return self.head(h), h


PREFIXES = [[3], [5, 1, 7], [2, 2], [9, 8, 7, 6, 5], [1], [4, 4, 4, 4]]


def rnn_state(rows: int) -> Tensor:
    return torch.randn(rows, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("max_new_tokens", [1, 5, 20])
def test_width_one_equals_greedy(max_new_tokens: int) -> None:
    model, state = TinyRNN(), rnn_state(len(PREFIXES))
    expected = greedy(model, state, PREFIXES, eos_id=EOS, max_new_tokens=max_new_tokens)
    out = beam_search(
        model, state, PREFIXES, eos_id=EOS, max_new_tokens=max_new_tokens, beam_width=1
    )
    assert out.tokens == expected.tokens
    assert out.stop_reasons == expected.stop_reasons
    assert out.logprobs == pytest.approx(expected.logprobs, abs=1e-12)
    assert set(expected.stop_reasons) == {"eos", "max_length"} or max_new_tokens == 1


@pytest.mark.parametrize("beam_width", [2, 4, 16])
def test_batch_equals_one_prompt_at_a_time(beam_width: int) -> None:
    model, state = TinyRNN(), rnn_state(len(PREFIXES))
    returned = 2
    batched = beam_search(
        model,
        state,
        PREFIXES,
        eos_id=EOS,
        max_new_tokens=12,
        beam_width=beam_width,
        num_return_sequences=returned,
        length_penalty=1.0,
    )
    for row, prefix in enumerate(PREFIXES):
        single = beam_search(
            model,
            select_rows(state, torch.tensor([row])),
            [prefix],
            eos_id=EOS,
            max_new_tokens=12,
            beam_width=beam_width,
            num_return_sequences=returned,
            length_penalty=1.0,
        )
        rows = slice(row * returned, (row + 1) * returned)
        assert single.tokens == batched.tokens[rows]
        assert single.logprobs == pytest.approx(batched.logprobs[rows], abs=1e-12)


def test_wider_beams_never_find_less_probable_best_sequences_here() -> None:
    model, state = TinyRNN(), rnn_state(len(PREFIXES))
    best = [
        beam_search(
            model, state, PREFIXES, eos_id=EOS, max_new_tokens=10, beam_width=width
        ).logprobs
        for width in (1, 4, 32)
    ]
    for narrow, wide in itertools.pairwise(best):
        assert all(w >= n - 1e-12 for n, w in zip(narrow, wide, strict=True))
    assert best[-1] != best[0]  # the beam finds better sequences than greedy


def test_finished_prompts_leave_the_batch() -> None:
    # After token 1, EOS is certain; after token 2, token 1 (then EOS) or EOS now.
    probs = torch.zeros(3, 3, 3)
    probs[:, 1] = torch.tensor([1.0, 0.0, 0.0])
    probs[:, 2] = torch.tensor([0.4, 0.6, 0.0])
    model = Table(probs.log())
    out = beam_search(
        model,
        torch.zeros(2, dtype=torch.long),
        [[1], [2]],
        eos_id=EOS,
        max_new_tokens=20,
        beam_width=3,
        num_return_sequences=2,
    )
    assert out.new_tokens == [[], [], [1], []]
    assert out.logprobs[:2] == [0.0, -math.inf]  # prompt 0 has one possible sequence
    assert out.token_logprobs[1] == [] and out.finished[:2] == [True, False]
    assert out.logprobs[2:] == pytest.approx([math.log(0.6), math.log(0.4)])
    # One step per prefix, then one for prompt 1's live hypotheses, and no more.
    assert model.rows == [2, 3]


def test_processors_shape_the_search_and_logprobs_stay_the_models() -> None:
    model = random_table(5, 4)
    state, prefixes = torch.tensor([0, 1]), [[1], [2, 3]]
    out = beam_search(
        model,
        state,
        prefixes,
        eos_id=EOS,
        max_new_tokens=5,
        beam_width=8,
        num_return_sequences=3,
        processors=[BanTokens([2]), MinLength(2, eos_id=EOS)],
    )
    for row, new in enumerate(out.new_tokens):
        assert 2 not in new
        assert len(new) >= 2
        prompt = row // 3
        with_eos = [*new, *([EOS] if out.finished[row] else [])]
        expected = model.logprob(int(state[prompt]), prefixes[prompt], with_eos)
        assert out.logprobs[row] == pytest.approx(expected, abs=1e-9)


def test_prefixes_are_fed_once_and_bos_is_used() -> None:
    model = random_table(5, 5)
    out = beam_search(
        model,
        torch.tensor([0, 0]),
        [[], [1, 2]],
        eos_id=EOS,
        max_new_tokens=1,
        beam_width=2,
        bos_id=4,
        decode=lambda ids: "".join(map(str, ids)),
    )
    assert model.rows == [2, 1, 1]  # BOS for both, then 1, then 2 for the second prompt
    assert out.texts is not None
    assert [text.startswith("12") for text in out.texts] == [False, True]


BAD: list[tuple[str, dict[str, object]]] = [
    ("beam_width >= 1, got 0", {"beam_width": 0}),
    ("num_return_sequences in [1, beam_width = 2], got 3", {"num_return_sequences": 3}),
    ("num_return_sequences in [1, beam_width = 2], got 0", {"num_return_sequences": 0}),
    ("finite length_penalty, got nan", {"length_penalty": math.nan}),
    ("max_new_tokens >= 1, got 0", {"max_new_tokens": 0}),
    ("prefixes[1][1] = 7", {"prefixes": [[1], [2, 7]]}),
]


@pytest.mark.parametrize(("needle", "options"), BAD, ids=[needle for needle, _ in BAD])
def test_bad_arguments_raise_value_error_naming_them(
    needle: str, options: dict[str, object]
) -> None:
    arguments: dict[str, object] = {
        "eos_id": EOS,
        "max_new_tokens": 3,
        "beam_width": 2,
        "prefixes": [[1], [2]],
    }
    arguments.update(options)
    prefixes = arguments.pop("prefixes")
    with pytest.raises(ValueError, match=re.escape(needle)):
        beam_search(random_table(4, 0), torch.zeros(2, dtype=torch.long), prefixes, **arguments)  # type: ignore[arg-type]


def test_empty_batch() -> None:
    model = random_table(4, 0)
    out = beam_search(
        model, torch.zeros(0, dtype=torch.long), [], eos_id=EOS, max_new_tokens=3, beam_width=2
    )
    assert out.tokens == [] and out.logprobs == [] and model.rows == []
