"""Generating 10,000 names: seqlearn's batched decoders beside one-name-at-a-time loops.

One trained names generator (``examples/names_generation.py``; trained here for a few
epochs, or loaded with ``--model DIR`` from a folder the example wrote) generates
``--num-names`` names of at most 20 letters after a start letter, for random
(language, start letter) prompts drawn from the data, in several ways:

* the lecture's loop (``generate_name_sample``): one name at a time, the name so far
  re-encoded every step (the lecture rebuilds ``input_to_onehot(output_name)`` and feeds its
  last letter), the state carried, one ``.item()`` per letter;
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
time to ``--num-names`` (marked "scaled" in the table). They run on ``--loop-threads``
threads (1 by default, faster for them); the batched decoders on ``--threads`` (torch's
default unless given). Batched sampling, greedy decoding and the floor are timed as the
best of ``--repeats`` runs, the loops and beam search once.

Run: ``python benchmarks/decoding.py [--model DIR] [--num-names 10000] [--loop-names 1000]``.
"""

from __future__ import annotations

import argparse
import runpy
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor

import seqlearn
from seqlearn.data import load_names
from seqlearn.decode import Generation, beam_search, greedy, sample
from seqlearn.nn import ConditionalLM
from seqlearn.nn.state import map_state
from seqlearn.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH = 20  # letters after the start letter, as the lecture's max_length
T = TypeVar("T")
Prompts = list[tuple[int, str]]  # (language, start letter)


def parse_args() -> argparse.Namespace:
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
        "--threads", type=int, default=0, help="threads of the batched decoders (0: torch's)"
    )
    parser.add_argument("--loop-threads", type=int, default=1, help="threads of the loops")
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts and draws")
    parser.add_argument("--device", default="cpu", help="device of the model")
    return parser.parse_args()


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


def lecture_loop(
    model: ConditionalLM[Any],
    tokenizer: CharTokenizer,
    prompts: Prompts,
    temperature: float,
    generator: torch.Generator,
) -> list[str]:
    """The lecture's ``generate_name_sample``, one name at a time, with seqlearn's model."""
    names = []
    for category, start_letter in prompts:
        category_tensor = torch.tensor([category])
        state = model.initial_state(category_tensor)
        inp = torch.tensor(tokenizer.encode(start_letter))
        output_name = start_letter
        for _ in range(MAX_LENGTH):
            logits, state = model.step(inp[-1:], state)  # the last letter
            probabilities = torch.softmax(logits[0] / temperature, dim=0)
            next_letter = torch.multinomial(probabilities, 1, generator=generator)[0].item()
            if next_letter == tokenizer.eos_id:
                break
            output_name += tokenizer.decode([int(next_letter)])
            inp = torch.tensor(tokenizer.encode(output_name))  # the name re-encoded
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
    names = []
    for category, start_letter in prompts:
        category_tensor = torch.tensor([category])
        output_name = start_letter
        for _ in range(MAX_LENGTH):
            ids = torch.tensor([tokenizer.encode(output_name)])  # (1, T)
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
    names = []
    for category, start_letter in prompts:
        state = model.initial_state(torch.tensor([category]))
        token = torch.tensor(tokenizer.encode(start_letter)[-1:])  # (1,)
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


def loop_rows(setup: Setup) -> list[Row]:
    """The one-name-at-a-time loops, on --loop-names names, scaled to --num-names."""
    args = setup.args
    prompts = setup.prompts[: args.loop_names]
    scale = args.num_names / len(prompts)
    note = f"scaled from {len(prompts)}" if scale != 1 else ""
    loops = [
        ("lecture loop (name re-encoded each step)", lecture_loop),
        ("one at a time, prefix re-run each step", rerun_loop),
        ("one at a time, state carried", carried_loop),
    ]
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(args.loop_threads)
    try:
        with torch.inference_mode():
            for label, loop in loops:
                print(f"timing: {label} ...", flush=True)
                generator = torch.Generator().manual_seed(args.seed)
                run = partial(
                    loop, setup.model, setup.tokenizer, prompts, args.temperature, generator
                )
                seconds, names = timed(run)
                rows.append((label, seconds * scale, names, note))
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


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    setup = Setup(args)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads (loops: "
        f"{args.loop_threads}); device {setup.device}; {args.num_names} names of at most "
        f"{MAX_LENGTH} letters after the start letter; temperature {args.temperature}"
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


if __name__ == "__main__":
    main()
