"""Generating 10,000 names: seqlearn's batched decoders beside one-name-at-a-time loops.

One trained names generator (``examples/names_generation.py``; trained here for a few
epochs, or loaded with ``--model DIR`` from a folder the example wrote) generates
``--num-names`` names of at most 20 letters after a start letter, for random
(language, start letter) prompts drawn from the data, in several ways:

* the lecture's loop (``generate_name_sample``), written out in plain torch over the
  model's weights, with no seqlearn call inside it (:class:`PlainStep`: the lecture's
  ``cat(category, letter, hidden)``, ``i2h`` and ``i2o``, or the model's GRU or LSTM cell
  as a plain ``torch.gru_cell`` / ``torch.lstm_cell``): one name at a time, the name so far
  re-encoded every step (the lecture rebuilds ``input_to_onehot(output_name)`` and feeds
  its last letter), the state carried, one ``.item()`` per letter. Before timing, the
  script checks that this plain step gives the same names and log-probabilities as
  seqlearn's ``greedy`` with the same weights;
* the same loop through seqlearn's ``model.step`` (with its input checks), for
  information: what calling seqlearn one name at a time costs;
* one name at a time, the whole prefix re-run through the model every step (what a
  generator that does not carry its state does, e.g. makemore's);
* one name at a time, the state carried, nothing re-encoded (the leanest per-name loop);
* seqlearn's batched ``sample`` and ``greedy``: all names in one call, one ``model.step``
  per time step for the rows still going;
* the floor: the very ``model.step`` calls that batched sampling made (same batch sizes,
  same number, each taking the state the previous call returned), timed alone, with no
  decoding around them;
* the time ``tokenizer.decode`` takes to turn the sampled ids into text, which the batched
  decoders leave to the caller (the loops build their text as they go);
* seqlearn's ``beam_search`` at widths 1, 4 and 16 (the best hypothesis of each prompt).

The per-name loops are slow, so ``--loop-names`` times them on fewer names and scales the
time to ``--num-names`` (marked "scaled" in the table). Every row runs on ``--threads``
threads (2 by default), the loops included; ``--lecture-one-thread`` adds a row with the
lecture's loop on 1 thread, for information only (the comparison stays at ``--threads``).
All rows run on ``--device``, in float32. Batched sampling, greedy decoding and the floor
are timed as the best of ``--repeats`` runs, the loops (each after an untimed warm-up on
10 names) and beam search once.

Run: ``python benchmarks/decoding.py [--model DIR] [--num-names 10000] [--loop-names 1000]
[--threads 2] [--lecture-one-thread] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import runpy
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

import seqlearn
from seqlearn.data import load_names
from seqlearn.decode import Generation, beam_search, greedy, sample
from seqlearn.nn import ConditionalLM, ElmanCell, GRUCell, LSTMCell, StackedCell
from seqlearn.nn.state import map_state
from seqlearn.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH = 20  # letters after the start letter, as the lecture's max_length
T = TypeVar("T")
Prompts = list[tuple[int, str]]  # (language, start letter)


# --quick: the values of a smoke run, for the flags left at their defaults
QUICK: dict[str, Any] = {
    "epochs": 1,
    "num_names": 300,
    "loop_names": 30,
    "beam_names": 30,
    "beam_widths": [1, 4],
    "repeats": 1,
}
CHECK_NAMES = 200  # prompts on which the plain step is checked against seqlearn's greedy
WARM_UP_NAMES = 10  # names each loop generates, untimed, before it is timed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` fills in the flags left at their defaults."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="a folder examples/names_generation.py wrote"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs without --model")
    parser.add_argument(
        "--hidden-size", type=int, default=256, help="hidden size of a model trained here"
    )
    parser.add_argument("--num-names", type=int, default=10_000, help="names to generate")
    parser.add_argument(
        "--loop-names",
        type=int,
        default=1000,
        help="names the one-at-a-time loops generate; their time is scaled to --num-names",
    )
    parser.add_argument(
        "--beam-names", type=int, default=None, help="prompts for beam search (--num-names)"
    )
    parser.add_argument(
        "--beam-widths", type=int, nargs="+", default=[1, 4, 16], help="beam widths"
    )
    parser.add_argument("--temperature", type=float, default=0.5, help="sampling temperature")
    parser.add_argument("--repeats", type=int, default=3, help="batched timings: best of N")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads of every row, the loops included (0: torch's default)",
    )
    parser.add_argument(
        "--loop-threads",
        type=int,
        default=None,
        help="threads of the loops, if not --threads (the table then says the sides differ)",
    )
    parser.add_argument(
        "--lecture-one-thread",
        action="store_true",
        help="also time the lecture's loop on 1 thread, a row for information only",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts and draws")
    parser.add_argument("--device", default="cpu", help="device of the model")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 training epoch, 300 names (30 in the loops and beam search), "
        "widths 1 and 4, 1 repeat, unless given; meaningless figures",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.threads < 0:
        parser.error(f"--threads must be 0 or more, got {args.threads}")
    if args.loop_threads is None:
        args.loop_threads = args.threads
    return args


def trained_model(args: argparse.Namespace) -> tuple[ConditionalLM[Any], CharTokenizer]:
    """The model given by ``--model``, or one trained now by the example."""
    example: dict[str, Any] = runpy.run_path(str(ROOT / "examples" / "names_generation.py"))
    folder = args.model
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="seqlearn_decoding_"))
        flags = ["--epochs", str(args.epochs), "--hidden-size", str(args.hidden_size)]
        flags += ["--seed", str(args.seed), "--no-progress", "--out", str(folder)]
        if args.data_dir is not None:
            flags += ["--data-dir", str(args.data_dir)]
        print(f"training a names generator for {args.epochs} epochs ...", flush=True)
        example["main"](flags)
    generator = seqlearn.load(folder, device=args.device)
    return generator.model, generator.tokenizer


def draw_prompts(args: argparse.Namespace, count: int) -> Prompts:
    """Random languages, each with the first letter of one of its names."""
    names = load_names(args.data_dir)
    by_language: list[list[str]] = [[] for _ in names.categories]
    for text, label in names:
        if text[:1].isascii() and text[:1].isalpha():
            by_language[label].append(text[0])
    generator = torch.Generator().manual_seed(args.seed)
    languages = torch.randint(len(by_language), (count,), generator=generator).tolist()
    picks = torch.rand(count, generator=generator).tolist()
    return [
        (lang, by_language[lang][int(u * len(by_language[lang]))])
        for lang, u in zip(languages, picks)
    ]


def timed(run: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """The best wall-clock seconds of ``repeats`` runs, and the last result."""
    best, results = float("inf"), []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        results.append(run())
        best = min(best, time.perf_counter() - start)
    return best, results[-1]


# ---------------------------------------------------------------------------- the lecture's loop

PlainState = tuple[Tensor, ...]  # (h,), or (h, c) for an LSTM; each (1, H)
PlainCell = Callable[[Tensor, Tensor, PlainState], tuple[Tensor, PlainState]]


class PlainStep:
    """A generator's step written out in plain torch over copies of its weights.

    The lecture's step (``LectureRNN`` in ``benchmarks/names_generation.py``) is
    ``combined = cat(category, letter, hidden)``, ``output = i2o(combined)``,
    ``hidden = relu(i2h(combined))``; :func:`seqlearn.nn.lecture_generator` holds the same
    weights (its cell's ``weight`` is ``i2h.weight``, its head's ``i2o.weight``). The same
    step serves the example's generators: the category and the letter are rows of a table
    (the identity for one-hot vectors, else the learned embedding), an Elman cell is the
    lecture's ``i2h``, a GRU or LSTM cell is ``torch.gru_cell`` / ``torch.lstm_cell`` over
    its weights (layer by layer for a stack), and the output layer reads the new state,
    or (``readout="input_and_previous_output"``, the lecture's ``i2o``) the step's input
    beside the previous state. Nothing of seqlearn runs in :attr:`step`.

    A stack of GRU and LSTM cells steps its layers in turn, each reading the one below.

    Raises:
        ValueError: For a cell it does not write out (a projected LSTM, a stack holding an
            Elman cell, others).
    """

    def __init__(self, model: ConditionalLM[Any]) -> None:
        weight = model.head.weight.detach()
        device, dtype = weight.device, weight.dtype
        self.categories = _table(model.category_embedding, model.num_categories, device, dtype)
        self.letters = _table(model.token_embedding, model.vocab_size, device, dtype)
        self.head_weight, self.head_bias = weight, model.head.bias.detach()
        self.reads_input = model.readout == "input_and_previous_output"
        cell = model.cell
        self.hidden_size = int(cell.hidden_size)
        self.step: PlainCell
        layers = list(cell.layers) if isinstance(cell, StackedCell) else [cell]
        self.layers: list[tuple[bool, list[Tensor]]] = []  # (is an LSTM, fused weights)
        if isinstance(cell, ElmanCell):
            self.weights = [cell.weight.detach()]  # (H, C+E+H): the lecture's i2h
            self.weights.append(
                cell.bias.detach() if cell.bias is not None else weight.new_zeros(self.hidden_size)
            )
            self.activation = torch.relu if cell.nonlinearity == "relu" else torch.tanh
            self.step = self._elman
        elif all(_gated_cell(layer) for layer in layers):
            for layer in layers:
                weights = [tensor.detach() for tensor in layer.fused_weights()]
                self.layers.append((isinstance(layer, LSTMCell), weights))
            self.step = self._gated
        else:
            raise ValueError(
                "the plain step writes out one Elman cell, or GRU and LSTM cells (no "
                f"projection), alone or stacked, got {type(cell).__name__}"
            )

    def initial_state(self) -> PlainState:
        """The zero state of one name: ``(h,)``, ``(h, c)`` for an LSTM, layer after layer."""
        zeros = self.head_weight.new_zeros(1, self.hidden_size)  # (1, H)
        if not self.layers:
            return (zeros,)
        return tuple(zeros for lstm, _ in self.layers for _ in range(2 if lstm else 1))

    def _elman(
        self, category: Tensor, letter: Tensor, state: PlainState
    ) -> tuple[Tensor, PlainState]:
        combined = torch.cat((category, letter, state[0]), dim=1)  # (1, C+E+H)
        hidden = self.activation(nn.functional.linear(combined, *self.weights))  # i2h
        features = combined if self.reads_input else hidden
        return nn.functional.linear(features, self.head_weight, self.head_bias), (hidden,)

    def _gated(
        self, category: Tensor, letter: Tensor, state: PlainState
    ) -> tuple[Tensor, PlainState]:
        x = torch.cat((category, letter), dim=1)  # (1, C+E)
        new: list[Tensor] = []
        inputs, at = x, 0
        for lstm, weights in self.layers:  # bottom layer first
            previous = state[at]  # this layer's output of the previous step; the top's is read
            if lstm:
                h, c = torch.lstm_cell(inputs, (state[at], state[at + 1]), *weights)
                new += [h, c]
                at += 2
            else:
                h = torch.gru_cell(inputs, state[at], *weights)
                new.append(h)
                at += 1
            inputs = h
        features = torch.cat((x, previous), dim=1) if self.reads_input else inputs
        return nn.functional.linear(features, self.head_weight, self.head_bias), tuple(new)


def _gated_cell(cell: object) -> bool:
    """Whether the plain step writes out this cell: a GRU, or an LSTM without projection."""
    return isinstance(cell, GRUCell) or (isinstance(cell, LSTMCell) and cell.weight_hr is None)


def _table(
    embedding: nn.Embedding | None, count: int, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """``(count, size)``: the rows a one-hot vector or an embedding gives each id."""
    if embedding is None:
        return torch.eye(count, device=device, dtype=dtype)
    return embedding.weight.detach()


class Letters:
    """The tokenizer's letters as plain Python, for loops that call no seqlearn code."""

    def __init__(self, tokenizer: CharTokenizer) -> None:
        alphabet = tokenizer.alphabet
        self.index = {letter: i for i, letter in enumerate(alphabet)}  # all_letters.find
        # the text of each id (special ids, EOS among them, add none), as decode gives it
        self.text = [*alphabet, *[""] * (tokenizer.vocab_size - len(alphabet))]
        self.eos_id = tokenizer.eos_id


def plain_lecture_loop(
    plain: PlainStep,
    letters: Letters,
    prompts: Prompts,
    temperature: float,
    generator: torch.Generator,
) -> list[str]:
    """The lecture's ``generate_name_sample``, one name at a time, in plain torch.

    Per name the category's vector and a zero state; per letter the name so far
    re-encoded (the lecture's ``input_to_onehot(output_name)``: rows of the letter table),
    its last letter stepped, a softmax at ``temperature``, one draw and one ``.item()``.
    """
    device = plain.head_weight.device
    names = []
    for category, start_letter in prompts:
        category_vector = plain.categories[category : category + 1]  # (1, C)
        state = plain.initial_state()
        output_name = start_letter
        for _ in range(MAX_LENGTH):
            ids = torch.tensor([letters.index[letter] for letter in output_name], device=device)
            name_vectors = plain.letters[ids]  # (T, E): the name re-encoded
            logits, state = plain.step(category_vector, name_vectors[-1:], state)  # (1, V)
            probabilities = torch.softmax(logits[0] / temperature, dim=0)
            next_letter = int(torch.multinomial(probabilities, 1, generator=generator)[0].item())
            if next_letter == letters.eos_id:
                break
            output_name += letters.text[next_letter]
        names.append(output_name)
    return names


def plain_greedy(
    plain: PlainStep, letters: Letters, prompts: Prompts
) -> tuple[list[str], list[list[float]]]:
    """The plain step decoding greedily: each name and its letters' log-probabilities."""
    device = plain.head_weight.device
    names, logprobs = [], []
    for category, start_letter in prompts:
        category_vector = plain.categories[category : category + 1]  # (1, C)
        state = plain.initial_state()
        output_name, scores = start_letter, []
        token = letters.index[start_letter]
        for _ in range(MAX_LENGTH):
            letter = plain.letters[torch.tensor([token], device=device)]  # (1, E)
            logits, state = plain.step(category_vector, letter, state)  # (1, V)
            log_probabilities = torch.log_softmax(logits[0], dim=0)
            token = int(log_probabilities.argmax())
            scores.append(float(log_probabilities[token]))
            if token == letters.eos_id:
                break
            output_name += letters.text[token]
        names.append(output_name)
        logprobs.append(scores)
    return names, logprobs


def check_plain_step(
    model: ConditionalLM[Any], tokenizer: CharTokenizer, plain: PlainStep, prompts: Prompts
) -> str:
    """Check the plain step against seqlearn's ``greedy`` with the same weights.

    Returns:
        A line saying what was checked: the same names, and the largest difference of the
        log-probabilities of the letters both chose, and of EOS.

    Raises:
        ValueError: If a name differs or a log-probability differs by more than 1e-4.
    """
    device = plain.head_weight.device
    names, plain_logprobs = plain_greedy(plain, Letters(tokenizer), prompts)
    categories = torch.tensor([category for category, _ in prompts], device=device)
    out = greedy(
        model,
        model.initial_state(categories),
        [tokenizer.encode(start) for _, start in prompts],
        eos_id=tokenizer.eos_id,
        max_new_tokens=MAX_LENGTH,
    )
    theirs = [tokenizer.decode(tokens) for tokens in out.tokens]
    differ = [i for i, (a, b) in enumerate(zip(names, theirs)) if a != b]
    if differ:
        i = differ[0]
        raise ValueError(
            f"the plain step and seqlearn's greedy disagree on {len(differ)} of {len(prompts)} "
            f"names, e.g. prompt {prompts[i]}: {names[i]!r} against {theirs[i]!r}"
        )
    gap = 0.0
    for ours, reference in zip(plain_logprobs, out.token_logprobs):
        if len(ours) != len(reference):  # both end with EOS's, where a name ended with it
            raise ValueError(f"log-probabilities of {len(ours)} and {len(reference)} letters")
        gap = max([gap, *(abs(a - b) for a, b in zip(ours, reference))])
    if gap > 1e-4:
        raise ValueError(f"the plain step's log-probabilities differ from seqlearn's by {gap:.2e}")
    return (
        f"plain step checked: seqlearn's greedy gives the same {len(prompts)} names, "
        f"log-probabilities within {gap:.1e}"
    )


def lecture_loop(
    model: ConditionalLM[Any],
    tokenizer: CharTokenizer,
    prompts: Prompts,
    temperature: float,
    generator: torch.Generator,
) -> list[str]:
    """The lecture's ``generate_name_sample`` through seqlearn's ``model.step`` (checked)."""
    device = model.head.weight.device
    names = []
    for category, start_letter in prompts:
        category_tensor = torch.tensor([category], device=device)
        state = model.initial_state(category_tensor)
        inp = torch.tensor(tokenizer.encode(start_letter), device=device)
        output_name = start_letter
        for _ in range(MAX_LENGTH):
            logits, state = model.step(inp[-1:], state)  # the last letter
            probabilities = torch.softmax(logits[0] / temperature, dim=0)
            next_letter = torch.multinomial(probabilities, 1, generator=generator)[0].item()
            if next_letter == tokenizer.eos_id:
                break
            output_name += tokenizer.decode([int(next_letter)])
            inp = torch.tensor(tokenizer.encode(output_name), device=device)  # re-encoded
        names.append(output_name)
    return names


def rerun_loop(
    model: ConditionalLM[Any],
    tokenizer: CharTokenizer,
    prompts: Prompts,
    temperature: float,
    generator: torch.Generator,
) -> list[str]:
    """One name at a time, the whole prefix run through the model again every step."""
    device = model.head.weight.device
    names = []
    for category, start_letter in prompts:
        category_tensor = torch.tensor([category], device=device)
        output_name = start_letter
        for _ in range(MAX_LENGTH):
            ids = torch.tensor([tokenizer.encode(output_name)], device=device)  # (1, T)
            logits = model(ids, None, category_tensor)[0, -1]  # (V,): the last position
            probabilities = torch.softmax(logits / temperature, dim=0)
            next_letter = int(torch.multinomial(probabilities, 1, generator=generator))
            if next_letter == tokenizer.eos_id:
                break
            output_name += tokenizer.decode([next_letter])
        names.append(output_name)
    return names


def carried_loop(
    model: ConditionalLM[Any],
    tokenizer: CharTokenizer,
    prompts: Prompts,
    temperature: float,
    generator: torch.Generator,
) -> list[str]:
    """One name at a time, the state carried and the last token kept as a tensor."""
    device = model.head.weight.device
    names = []
    for category, start_letter in prompts:
        state = model.initial_state(torch.tensor([category], device=device))
        token = torch.tensor(tokenizer.encode(start_letter)[-1:], device=device)  # (1,)
        new: list[int] = []
        for _ in range(MAX_LENGTH):
            logits, state = model.step(token, state)  # (1, V)
            token = torch.multinomial(
                torch.softmax(logits / temperature, 1), 1, generator=generator
            )[0]
            letter = int(token)
            if letter == tokenizer.eos_id:
                break
            new.append(letter)
        names.append(start_letter + tokenizer.decode(new))
    return names


class Recorder:
    """Steps a model and records the batch size of every step."""

    def __init__(self, model: ConditionalLM[Any]) -> None:
        self.model = model
        self.sizes: list[int] = []

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        self.sizes.append(len(tokens))
        return self.model.step(tokens, state)


def floor_run(model: ConditionalLM[Any], sizes: list[int]) -> Callable[[], None]:
    """``model.step`` calls of the given batch sizes alone, their tokens made beforehand.

    Each call takes the state the previous call returned (its first ``n`` rows, a view), as
    any decoder must, so the floor pays the model's own memory traffic and nothing else.
    """
    generator = torch.Generator().manual_seed(0)
    device = model.head.weight.device
    largest = max(sizes)
    categories = torch.randint(model.num_categories, (largest,), generator=generator)
    tokens = torch.randint(model.vocab_size, (largest,), generator=generator).to(device)
    steps = [tokens[:n] for n in sizes]

    def run() -> None:
        state = model.initial_state(categories.to(device))
        with torch.inference_mode():
            for step_tokens in steps:
                state = map_state(partial(first_rows, n=len(step_tokens)), state)
                _, state = model.step(step_tokens, state)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def first_rows(tensor: Tensor, n: int) -> Tensor:
    return tensor[:n]


def mean_length(names: list[str]) -> float:
    return sum(len(name) for name in names) / max(len(names), 1)


Row = tuple[str, float, list[str], str]  # label, seconds for --num-names, names, note


class Setup:
    """The model, its tokenizer and the prompts, shared by every timing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model, self.tokenizer = trained_model(args)
        self.model.eval()
        self.prompts = draw_prompts(args, args.num_names)
        self.device = self.model.head.weight.device
        categories = [category for category, _ in self.prompts]
        self.categories = torch.tensor(categories, device=self.device)
        self.prefixes = [self.tokenizer.encode(start) for _, start in self.prompts]
        self.options: dict[str, Any] = {
            "eos_id": self.tokenizer.eos_id,
            "max_new_tokens": MAX_LENGTH,
        }

    def sample(self, model: Any) -> Generation:
        generator = torch.Generator(self.device).manual_seed(self.args.seed)
        state = self.model.initial_state(self.categories)
        return sample(
            model,
            state,
            self.prefixes,
            temperature=self.args.temperature,
            generator=generator,
            **self.options,
        )

    def greedy(self) -> Generation:
        state = self.model.initial_state(self.categories)
        return greedy(self.model, state, self.prefixes, **self.options)

    def texts(self, out: Generation) -> list[str]:
        return [self.tokenizer.decode(tokens) for tokens in out.tokens]

    def beam_search(self, width: int, prompts: int) -> Generation:
        state = self.model.initial_state(self.categories[:prompts])
        return beam_search(
            self.model, state, self.prefixes[:prompts], beam_width=width, **self.options
        )


def batched_rows(setup: Setup) -> tuple[list[Row], float]:
    """Batched sampling and greedy decoding, and the floor's seconds.

    The three take turns, ``--repeats`` rounds, each keeping its best time, so a change in
    the machine's load touches them alike.
    """
    recorder = Recorder(setup.model)
    setup.sample(recorder)  # the draws of every timed run: the same batch sizes
    runs: dict[str, Callable[[], Any]] = {
        "sample": partial(setup.sample, setup.model),
        "greedy": setup.greedy,
        "floor": floor_run(setup.model, recorder.sizes),
    }
    best = dict.fromkeys(runs, float("inf"))
    outputs: dict[str, Any] = {}
    for _ in range(max(setup.args.repeats, 1)):
        for name, run in runs.items():
            seconds, outputs[name] = timed(run)
            best[name] = min(best[name], seconds)
    texts, _ = timed(partial(setup.texts, outputs["sample"]), setup.args.repeats)
    rows = [
        ("seqlearn sample, batched", best["sample"], setup.texts(outputs["sample"]), ""),
        ("seqlearn greedy, batched", best["greedy"], setup.texts(outputs["greedy"]), ""),
        ("  then ids to text (tokenizer.decode)", texts, [], "not in the times above"),
        (f"floor: {len(recorder.sizes)} batched model.step calls", best["floor"], [], ""),
    ]
    return rows, best["floor"]


Loop = Callable[[Prompts, float, torch.Generator], list[str]]


def lecture_baseline(setup: Setup) -> tuple[Loop, str]:
    """The lecture's loop in plain torch, checked against seqlearn's greedy, and its note.

    A model the plain step does not write out (a stack, say) falls back on the loop through
    seqlearn's ``model.step``, said loudly: that baseline is slower than the lecture's own.

    Raises:
        SystemExit: If the plain step and seqlearn's greedy disagree.
    """
    try:
        plain = PlainStep(setup.model)
    except ValueError as error:
        print(
            f"NOTE: {error}: the lecture loop runs through seqlearn's model.step instead, "
            "which is slower than a plain step and flatters seqlearn",
            flush=True,
        )
        return partial(lecture_loop, setup.model, setup.tokenizer), "through model.step"
    with torch.inference_mode():
        try:
            print(
                check_plain_step(setup.model, setup.tokenizer, plain, setup.prompts[:CHECK_NAMES])
            )
        except ValueError as error:
            raise SystemExit(f"decoding.py: error: {error}") from error
    return partial(plain_lecture_loop, plain, Letters(setup.tokenizer)), "plain torch step"


def loop_rows(setup: Setup) -> list[Row]:
    """The one-name-at-a-time loops, on --loop-names names, scaled to --num-names.

    Each runs on --loop-threads threads (--threads unless given); --lecture-one-thread adds
    the lecture's loop on 1 thread, a row for information.
    """
    args = setup.args
    prompts = setup.prompts[: args.loop_names]
    scale = args.num_names / len(prompts)
    scaled = f"scaled from {len(prompts)}" if scale != 1 else ""
    lecture, lecture_note = lecture_baseline(setup)
    model, tokenizer = setup.model, setup.tokenizer
    loops: list[tuple[str, Loop, int, str]] = [
        ("lecture loop (name re-encoded each step)", lecture, args.loop_threads, lecture_note)
    ]
    if lecture_note == "plain torch step":
        loops.append(
            (
                "  same loop through seqlearn's model.step",
                partial(lecture_loop, model, tokenizer),
                args.loop_threads,
                "for information",
            )
        )
    loops += [
        (
            "one at a time, prefix re-run each step",
            partial(rerun_loop, model, tokenizer),
            args.loop_threads,
            "",
        ),
        (
            "one at a time, state carried",
            partial(carried_loop, model, tokenizer),
            args.loop_threads,
            "",
        ),
    ]
    if args.lecture_one_thread:
        loops.append(("lecture loop on 1 thread (for information)", lecture, 1, "not compared"))
    rows = []
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            for label, loop, count, note in loops:
                print(f"timing: {label.strip()} ...", flush=True)
                torch.set_num_threads(count)
                warm_up = torch.Generator(setup.device).manual_seed(args.seed + 1)
                loop(prompts[:WARM_UP_NAMES], args.temperature, warm_up)  # alike for every loop
                generator = torch.Generator(setup.device).manual_seed(args.seed)
                seconds, names = timed(partial(loop, prompts, args.temperature, generator))
                rows.append(
                    (label, seconds * scale, names, ", ".join(filter(None, [note, scaled])))
                )
    finally:
        torch.set_num_threads(threads)
    return rows


def beam_rows(setup: Setup) -> list[Row]:
    """Beam search at each width, on --beam-names prompts, scaled to --num-names."""
    args = setup.args
    prompts = min(args.beam_names or args.num_names, args.num_names)
    scale = args.num_names / prompts
    note = f"scaled from {prompts}" if scale != 1 else ""
    rows = []
    for width in args.beam_widths:
        print(f"timing: beam search, width {width} ...", flush=True)
        seconds, out = timed(partial(setup.beam_search, width, prompts))
        rows.append(
            (f"seqlearn beam search, width {width}", seconds * scale, setup.texts(out), note)
        )
    return rows


def print_table(rows: list[Row], num_names: int, lecture: float, floor: float) -> None:
    """Seconds, names per second, speed against the lecture loop, time against the floor."""
    print(
        f"\n{'':44}{'seconds':>9}{'names/s':>10}{'vs lecture':>12}{'vs floor':>10}{'mean len':>10}"
    )
    for label, seconds, names, note in rows:
        length = f"{mean_length(names):10.2f}" if names else f"{'':10}"
        print(
            f"{label:<44}{seconds:9.3f}{num_names / seconds:10.0f}"
            f"{lecture / seconds:11.1f}x{seconds / floor:9.2f}x{length}  {note}"
        )
    print(
        "vs lecture: how many times the lecture loop's time (higher is faster); vs floor: "
        "time over the floor's (1.00x is the model's own cost)"
    )


def load_average() -> str:
    """The 1-minute load average, or "unknown" where the system does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    args.loop_threads = args.loop_threads or args.threads
    torch.manual_seed(args.seed)
    setup = Setup(args)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (loops: "
        f"{args.loop_threads}); device {setup.device}; {args.num_names} names of at most "
        f"{MAX_LENGTH} letters after the start letter; temperature {args.temperature}"
        + ("  [--quick: a smoke run, the figures mean nothing]" if args.quick else "")
    )
    print(f"load average at the start: {load_average()}")
    if args.loop_threads != args.threads:
        print(
            f"NOTE: the loops run on {args.loop_threads} threads and the batched decoders on "
            f"{args.threads}: the sides are not timed alike"
        )
    batched, floor = batched_rows(setup)
    loops = loop_rows(setup)
    beams = beam_rows(setup)
    lecture, sampled = loops[0][1], batched[0][1]
    print_table(batched + loops + beams, args.num_names, lecture, floor)
    print(
        f"\nbatched sampling: {lecture / sampled:.1f}x the lecture loop's names per second "
        f"(target: at least 20x); {sampled / floor:.2f}x the floor's time (target: at most "
        "1.5x)"
    )
    print("sampled names:", ", ".join(batched[0][2][:8]))
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
