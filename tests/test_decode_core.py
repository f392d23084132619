"""Tests for the decoding core: the processor list, the prompts' shared feeding over
:func:`seqlearn.nn.shrinking_steps`, the one empty-batch path, and the loops' host reads."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

import seqlearn
from seqlearn.decode import (
    BanTokens,
    Generation,
    LogitsProcessor,
    LogitsProcessorList,
    MinLength,
    RepetitionPenalty,
    StepInfo,
    Temperature,
    TopK,
    TopP,
    beam_search,
    greedy,
    sample,
)
from seqlearn.decode._prompts import check_prompts, feed_prefixes
from seqlearn.decode._request import Request, Start
from seqlearn.nn import shrinking_steps
from seqlearn.nn.state import select_rows

EOS, V, H = 0, 7, 5


class State(NamedTuple):
    h: Tensor  # (B, H)
    category: Tensor  # (B,) carried unchanged


class TinyLM(torch.nn.Module):
    """A random conditioned Elman RNN in float64, stepping one token at a time; it records
    the batch size of every step."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.embed = torch.nn.Parameter(torch.randn(V, H, generator=generator, dtype=torch.float64))
        self.category = torch.nn.Parameter(torch.randn(3, H, generator=generator).double())
        self.recur = torch.nn.Parameter(torch.randn(H, H, generator=generator).double())
        self.head = torch.nn.Parameter(torch.randn(H, V, generator=generator).double())
        self.sizes: list[int] = []

    def initial_state(self, categories: Tensor) -> State:
        return State(torch.tanh(self.category[categories]), categories)

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        self.sizes.append(tokens.shape[0])
        h = torch.tanh(self.embed[tokens] + self.category[state.category] + state.h @ self.recur)
        return h @ self.head, State(h, state.category)  # (B, V)


PREFIXES = [[1], [2, 3, 4], [5, 6], [4, 4, 1]]
CATEGORIES = torch.tensor([0, 2, 1, 2])


def _decoders() -> dict[str, Callable[..., Generation]]:
    def seeded_sample(*args: Any, **options: Any) -> Generation:
        return sample(*args, num_samples=2, generator=torch.Generator().manual_seed(0), **options)

    def beam(*args: Any, **options: Any) -> Generation:
        return beam_search(*args, beam_width=3, num_return_sequences=2, **options)

    return {"greedy": greedy, "sample": seeded_sample, "beam": beam}


DECODERS = _decoders()


# The processor list


def test_processor_list_applies_its_processors_in_order() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.0, -1.0], [0.5, 0.0, 4.0, 2.0]])
    info = StepInfo(torch.tensor([[2], [1]]), torch.tensor([[3], [3]]))
    chain: list[LogitsProcessor] = [RepetitionPenalty(2.0), Temperature(0.5), TopK(2)]
    expected = logits
    for processor in chain:
        expected = processor(expected, info)
    assert torch.equal(LogitsProcessorList(chain)(logits, info), expected)
    swapped = LogitsProcessorList([TopP(0.5), Temperature(4.0)])
    assert not torch.equal(swapped(logits, info), LogitsProcessorList(swapped[::-1])(logits, info))


def test_an_empty_processor_list_changes_nothing_and_is_false() -> None:
    logits = torch.randn(3, 4)
    empty = LogitsProcessorList()
    assert not empty
    assert empty(logits, StepInfo.empty(3)) is logits


def test_processor_list_is_a_list_and_a_processor() -> None:
    processors = LogitsProcessorList((TopK(3),))
    processors.append(BanTokens([0]))
    processors.insert(0, Temperature(2.0))
    assert isinstance(processors, list)
    assert len(processors) == 3 and isinstance(processors[0], Temperature)
    assert repr(processors) == "LogitsProcessorList([Temperature(2.0), TopK(3), BanTokens([0])])"
    as_processor: LogitsProcessor = processors  # a list of processors is a processor
    nested = LogitsProcessorList([LogitsProcessorList(processors[:2]), processors[2]])
    logits, info = torch.randn(2, 5), StepInfo.empty(2)
    assert torch.equal(nested(logits, info), as_processor(logits, info))


def test_processor_list_is_exported() -> None:
    assert seqlearn.LogitsProcessorList is LogitsProcessorList
    assert "LogitsProcessorList" in seqlearn.__all__
    assert "LogitsProcessorList" in seqlearn.decode.__all__


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoders_take_a_processor_list_or_any_sequence(name: str) -> None:
    model = TinyLM()
    state = model.initial_state(CATEGORIES)
    chain: list[LogitsProcessor] = [MinLength(2, eos_id=EOS), TopK(4)]
    options = {"eos_id": EOS, "max_new_tokens": 6}
    outputs = [
        DECODERS[name](model, state, PREFIXES, processors=processors, **options)
        for processors in (chain, tuple(chain), LogitsProcessorList(chain))
    ]
    assert outputs[0] == outputs[1] == outputs[2]
    assert all(len(tokens) >= 2 for tokens in outputs[0].new_tokens)  # MinLength applied


def test_sample_temperature_is_a_temperature_at_the_head_of_the_list() -> None:
    model = TinyLM()
    state = model.initial_state(CATEGORIES)
    processors = LogitsProcessorList([TopP(0.9)])
    options: dict[str, Any] = {"eos_id": EOS, "max_new_tokens": 8, "num_samples": 3}
    tempered = sample(
        model,
        state,
        PREFIXES,
        temperature=0.7,
        processors=processors,
        generator=torch.Generator().manual_seed(1),
        **options,
    )
    listed = sample(
        model,
        state,
        PREFIXES,
        processors=LogitsProcessorList([Temperature(0.7), TopP(0.9)]),
        generator=torch.Generator().manual_seed(1),
        **options,
    )
    assert tempered == listed
    assert len(processors) == 1  # the caller's list is left as it was


# Feeding the prefixes: one shrinking batch, rows longest first


def _feed(
    model: TinyLM, state: State, prefixes: Sequence[Sequence[int]], bos_id: int | None
) -> Start[State]:
    request = Request(eos_id=EOS, max_new_tokens=1, bos_id=bos_id)
    return feed_prefixes(model, state, check_prompts(state, prefixes, bos_id), request)


@pytest.mark.parametrize("bos_id", [None, 6])
def test_feeding_prompts_of_different_lengths_equals_feeding_each_alone(bos_id: int | None) -> None:
    model = TinyLM()
    state = model.initial_state(CATEGORIES)
    prefixes = [*PREFIXES, []] if bos_id is not None else PREFIXES
    if bos_id is not None:
        state = model.initial_state(torch.cat((CATEGORIES, torch.tensor([1]))))
    together = _feed(model, state, prefixes, bos_id)
    for row, prefix in enumerate(prefixes):
        alone = _feed(model, select_rows(state, torch.tensor([row])), [prefix], bos_id)
        torch.testing.assert_close(together.logits[row : row + 1], alone.logits)
        torch.testing.assert_close(together.state.h[row : row + 1], alone.state.h)
        assert torch.equal(together.state.category[row : row + 1], alone.state.category)
        assert together.prefix[row, : len(prefix)].tolist() == prefix
        assert (together.prefix[row, len(prefix) :] == -1).all()


def test_feeding_steps_only_the_rows_still_feeding() -> None:
    model = TinyLM()
    _feed(model, model.initial_state(CATEGORIES), PREFIXES, None)  # lengths 1, 3, 2, 3
    assert model.sizes == [4, 3, 2]
    model.sizes.clear()
    _feed(model, model.initial_state(CATEGORIES[:2]), [[1, 2], [3, 4]], None)  # equal lengths
    assert model.sizes == [2, 2]


def test_feeding_runs_on_the_shared_shrinking_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[list[int]] = []

    def recording(step: Any, inputs: Sequence[Tensor], state: Any) -> Any:
        sizes.append([len(x) for x in inputs])
        return shrinking_steps(step, inputs, state)

    monkeypatch.setattr("seqlearn.decode._prompts.shrinking_steps", recording)
    model = TinyLM()
    greedy(model, model.initial_state(CATEGORIES), PREFIXES, eos_id=EOS, max_new_tokens=3)
    assert sizes == [[4, 3, 2]]


def test_greedy_on_prompts_of_different_lengths_equals_greedy_on_each_alone() -> None:
    model = TinyLM()
    state = model.initial_state(CATEGORIES)
    options: dict[str, Any] = {"eos_id": EOS, "max_new_tokens": 12}
    together = greedy(model, state, PREFIXES, **options)
    for row, prefix in enumerate(PREFIXES):
        alone = greedy(model, select_rows(state, torch.tensor([row])), [prefix], **options)
        assert together.tokens[row] == alone.tokens[0]
        assert together.stop_reasons[row] == alone.stop_reasons[0]
        assert together.logprobs[row] == pytest.approx(alone.logprobs[0], rel=1e-9)


# The empty batch: one path for every decoder


class NeverStepped:
    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        raise AssertionError("no prompts: nothing to step")


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("decode", [None, str])
def test_no_prompts_give_an_empty_generation_without_a_step(
    name: str, decode: Callable[[list[int]], str] | None
) -> None:
    out = DECODERS[name](
        NeverStepped(), torch.zeros(0, 4), [], eos_id=EOS, max_new_tokens=3, decode=decode
    )
    assert out == Generation([], [], [], [], [], [], None if decode is None else [])


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_no_prompts_are_still_checked(name: str) -> None:
    with pytest.raises(ValueError, match="max_new_tokens >= 1"):
        DECODERS[name](NeverStepped(), torch.zeros(0, 4), [], eos_id=EOS, max_new_tokens=0)
    with pytest.raises(ValueError, match="one prefix per row"):
        DECODERS[name](NeverStepped(), torch.zeros(2, 4), [], eos_id=EOS, max_new_tokens=2)


# Host reads in the decoding loops


class HostReads(TorchFunctionMode):
    """Counts the calls that read a tensor's value on the host, made by the given files."""

    READS = frozenset(
        {"item", "__bool__", "__int__", "__float__", "__index__", "tolist", "numpy", "cpu"}
        | {"nonzero"}  # its output's size waits for the device
    )

    def __init__(self, files: Sequence[str]) -> None:
        super().__init__()
        self.files = tuple(files)
        self.count = 0

    def __torch_function__(
        self, func: Any, types: Any, args: Any = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if getattr(func, "__name__", "") in self.READS:
            caller = [f for f in traceback.extract_stack()[:-1] if "/seqlearn/" in f.filename]
            if caller and caller[-1].filename.endswith(self.files):
                self.count += 1
        return func(*args, **(kwargs or {}))


class NoEnd:
    """Token 1 is always the most likely, EOS impossible: no row ever ends early."""

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        logits = torch.tensor([float("-inf"), 1.0, 0.0]).repeat(tokens.shape[0], 1)
        return logits, state


@pytest.mark.parametrize(
    ("name", "files", "most"),
    [
        ("greedy", ["decode/generate.py"], lambda m: m - 1),  # one a step, to learn if any ended
        ("sample", ["decode/generate.py"], lambda m: 2 * m - 1),  # and one a draw
        ("beam", ["decode/beam.py", "decode/_hypotheses.py"], lambda m: m),  # and one at the end
    ],
)
def test_decoding_loops_read_the_device_at_most_once_a_step(
    name: str, files: list[str], most: Callable[[int], int]
) -> None:
    steps = 6
    counter = HostReads(files)
    with counter:
        out = DECODERS[name](
            NoEnd(), torch.zeros(3, 1), [[1], [2, 2], [1]], eos_id=EOS, max_new_tokens=steps
        )
    assert all(len(tokens) == steps for tokens in out.new_tokens)
    assert 0 < counter.count <= most(steps)
