"""benchmarks/decoding.py: the lecture's loop in plain torch, and its command line.

The plain step must compute what seqlearn's ``model.step`` computes with the same weights,
and what the lecture's ``i2h`` / ``i2o`` compute (``LectureRNN`` of
``benchmarks/names_generation.py``); nothing here times anything or needs the data.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from seqlearn.decode import greedy
from seqlearn.nn import (
    Cell,
    ConditionalLM,
    ElmanCell,
    GRUCell,
    LSTMCell,
    StackedCell,
    lecture_generator,
)
from seqlearn.tokenize import CharTokenizer

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TOKENIZER = CharTokenizer(oov="drop")  # the lecture's 58 letters and EOS: 59 ids
PROMPTS = [(category, letter) for category in range(18) for letter in "KMSa"]


@pytest.fixture(scope="module")
def decoding() -> dict[str, Any]:
    return runpy.run_path(str(BENCHMARKS / "decoding.py"))


@pytest.fixture(scope="module")
def names_generation() -> dict[str, Any]:
    return runpy.run_path(str(BENCHMARKS / "names_generation.py"))


def example_generator(kind: str, readout: str = "output") -> ConditionalLM[Any]:
    """Untrained generators of the shapes ``examples/names_generation.py`` builds."""
    generator = torch.Generator().manual_seed(0)
    embedding = 8
    cells: dict[str, Callable[[], Cell[Any]]] = {
        "lstm stack": lambda: StackedCell(
            [
                LSTMCell(18 + embedding, 16, generator=generator),
                LSTMCell(16, 16, generator=generator),
            ],
            dropout=0.2,  # eval mode: none
        ),
        "gru-lstm stack": lambda: StackedCell(
            [GRUCell(18 + embedding, 16, generator=generator), LSTMCell(16, 16)]
        ),
        "gru": lambda: GRUCell(18 + embedding, 16, generator=generator),
        "lstm": lambda: LSTMCell(18 + embedding, 16, generator=generator),
        "elman": lambda: ElmanCell(18 + embedding, 16, generator=generator),
    }
    model = ConditionalLM(
        cells[kind](),
        vocab_size=59,
        num_categories=18,
        embedding_dim=embedding,
        readout=readout,  # type: ignore[arg-type]
        dropout=0.3,  # eval mode: none
        generator=generator,
    )
    return model.eval()


MODELS: dict[str, Callable[[], ConditionalLM[Any]]] = {
    "lecture": lambda: lecture_generator(generator=torch.Generator().manual_seed(0)).eval(),
    "gru": lambda: example_generator("gru"),
    "lstm": lambda: example_generator("lstm"),
    "elman tanh": lambda: example_generator("elman"),
    "gru, lecture readout": lambda: example_generator("gru", "input_and_previous_output"),
    "lstm stack (the example's default)": lambda: example_generator("lstm stack"),
    "gru-lstm stack, lecture readout": lambda: example_generator(
        "gru-lstm stack", "input_and_previous_output"
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_plain_step_computes_seqlearns_step(decoding: dict[str, Any], name: str) -> None:
    model = MODELS[name]()
    plain = decoding["PlainStep"](model)
    tokens = torch.tensor([3, 30, 0, 58, 12, 7])
    with torch.inference_mode():
        state, ours = model.initial_state(torch.tensor([5])), plain.initial_state()
        for token in tokens:
            logits, state = model.step(token.view(1), state)
            plain_logits, ours = plain.step(
                plain.categories[5:6], plain.letters[token.view(1)], ours
            )
            torch.testing.assert_close(plain_logits, logits)


def test_plain_step_is_the_lectures_i2h_and_i2o(
    decoding: dict[str, Any], names_generation: dict[str, Any]
) -> None:
    model = lecture_generator(generator=torch.Generator().manual_seed(1))
    lecture = names_generation["LectureRNN"](18)
    with torch.no_grad():  # lecture_generator's docstring: cell.weight is i2h.weight, ...
        lecture.i2h.weight.copy_(model.cell.weight)
        lecture.i2h.bias.copy_(model.cell.bias)
        lecture.i2o.weight.copy_(model.head.weight)
        lecture.i2o.bias.copy_(model.head.bias)
    plain = decoding["PlainStep"](model)
    category = torch.nn.functional.one_hot(torch.tensor([4]), 18).float()
    hidden, state = torch.zeros(1, 128), plain.initial_state()
    with torch.inference_mode():
        for token in [10, 0, 17, 58]:
            letter = torch.nn.functional.one_hot(torch.tensor([token]), 59).float()
            output, hidden = lecture(category, letter, hidden)
            logits, state = plain.step(plain.categories[4:5], plain.letters[[token]], state)
            torch.testing.assert_close(logits, output)
            torch.testing.assert_close(state[0], hidden)


@pytest.mark.parametrize("name", ["lecture", "gru", "lstm"])
def test_check_passes_when_plain_greedy_matches_seqlearns(
    decoding: dict[str, Any], name: str
) -> None:
    model = MODELS[name]()
    plain = decoding["PlainStep"](model)
    with torch.inference_mode():
        line = decoding["check_plain_step"](model, TOKENIZER, plain, PROMPTS)
    assert f"the same {len(PROMPTS)} names" in line


def test_plain_greedy_names_equal_seqlearns(decoding: dict[str, Any]) -> None:
    model = MODELS["gru"]()
    names, logprobs = decoding["plain_greedy"](
        decoding["PlainStep"](model), decoding["Letters"](TOKENIZER), PROMPTS
    )
    out = greedy(
        model,
        model.initial_state(torch.tensor([category for category, _ in PROMPTS])),
        [TOKENIZER.encode(letter) for _, letter in PROMPTS],
        eos_id=TOKENIZER.eos_id,
        max_new_tokens=20,
    )
    assert names == [TOKENIZER.decode(tokens) for tokens in out.tokens]
    for ours, theirs in zip(logprobs, out.token_logprobs):
        assert ours == pytest.approx(theirs, abs=1e-5)


def test_check_fails_when_the_plain_step_differs(decoding: dict[str, Any]) -> None:
    model = MODELS["lecture"]()
    plain = decoding["PlainStep"](model)
    plain.head_bias = plain.head_bias + torch.linspace(0, 3, 59)  # a wrong output layer
    with torch.inference_mode(), pytest.raises(ValueError, match=r"disagree|differ"):
        decoding["check_plain_step"](model, TOKENIZER, plain, PROMPTS)


@pytest.mark.parametrize("name", ["lecture", "gru"])
def test_plain_loop_samples_the_names_of_the_loop_through_model_step(
    decoding: dict[str, Any], name: str
) -> None:
    model = MODELS[name]()
    plain = decoding["PlainStep"](model)
    with torch.inference_mode():
        ours = decoding["plain_lecture_loop"](
            plain, decoding["Letters"](TOKENIZER), PROMPTS, 0.5, torch.Generator().manual_seed(3)
        )
        theirs = decoding["lecture_loop"](
            model, TOKENIZER, PROMPTS, 0.5, torch.Generator().manual_seed(3)
        )
    assert ours == theirs


def test_plain_step_refuses_a_stack_holding_an_elman_cell(decoding: dict[str, Any]) -> None:
    stack = StackedCell([GRUCell(18 + 59, 8), ElmanCell(8, 8)])
    model = ConditionalLM(stack, vocab_size=59, num_categories=18)
    with pytest.raises(ValueError, match="alone or stacked"):
        decoding["PlainStep"](model)


def test_both_sides_run_on_the_same_threads_by_default(decoding: dict[str, Any]) -> None:
    args = decoding["parse_args"]([])
    assert args.threads == 2 and args.loop_threads == 2
    assert not args.lecture_one_thread
    args = decoding["parse_args"](["--threads", "3"])
    assert args.loop_threads == 3
    assert decoding["parse_args"](["--threads", "3", "--loop-threads", "1"]).loop_threads == 1


def test_quick_fills_only_the_flags_left_at_their_defaults(decoding: dict[str, Any]) -> None:
    args = decoding["parse_args"](["--quick", "--num-names", "50"])
    assert (args.num_names, args.loop_names, args.epochs, args.repeats) == (50, 30, 1, 1)
    assert args.beam_widths == [1, 4]
