"""Names from one trained model, decoded with each strategy of seqlearn.decode.

Produces the printed results of docs/decoding.rst:

1. For a few languages and the start letters K, M and S, the name each strategy gives,
   side by side: greedy; sampling plain, at temperature 0.5, with top-k, top-p, min-p and
   a repetition penalty; beam search at widths 4 and 16, and at width 16 with a length
   penalty of 1.
2. Over every language and every start letter A to Z (468 prompts), per strategy: the mean
   name length, the mean log-probability of a name under the model (given its language
   and start letter, EOS included), and the share of names that are real names of the
   data set.

The model is the one ``examples/names_generation.py --cell gru --num-layers 1 --dropout
0.3 --epochs 8`` trains (a GRU of 256 units over 32-dimensional letter embeddings,
``--seed 0``; the example's defaults until 0.1.x), trained here unless ``--model DIR``
names a folder that the example wrote. Draws use ``--seed``.

Usage (about 1 minute on 2 idle CPU cores, most of it training)::

    python docs/scripts/decoding_strategies.py --data-dir /path/to/data

where ``/path/to/data`` holds ``names/`` (or set ``SEQLEARN_DATA``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import platform
import runpy
import string
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import seqlearn
from seqlearn.data import load_names
from seqlearn.decode import (
    Generation,
    LogitsProcessor,
    MinP,
    RepetitionPenalty,
    Temperature,
    TopK,
    TopP,
    beam_search,
    greedy,
    sample,
)
from seqlearn.nn import ConditionalLM
from seqlearn.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ["English", "German", "Italian", "Japanese", "Russian"]
STARTS = "KMS"
MAX_LENGTH = 20

Decoder = Callable[[ConditionalLM[Any], Any, list[list[int]]], Generation]


def strategies(eos_id: int, seed: int) -> dict[str, Decoder]:
    """Each strategy, by the label printed for it."""
    options: dict[str, Any] = {"eos_id": eos_id, "max_new_tokens": MAX_LENGTH}

    def sampler(processors: list[LogitsProcessor]) -> Decoder:
        def decode(model: ConditionalLM[Any], state: Any, prefixes: list[list[int]]) -> Generation:
            generator = torch.Generator().manual_seed(seed)
            return sample(
                model, state, prefixes, processors=processors, generator=generator, **options
            )

        return decode

    def beam(width: int, length_penalty: float = 0.0) -> Decoder:
        def decode(model: ConditionalLM[Any], state: Any, prefixes: list[list[int]]) -> Generation:
            return beam_search(
                model,
                state,
                prefixes,
                beam_width=width,
                length_penalty=length_penalty,
                **options,
            )

        return decode

    def best(model: ConditionalLM[Any], state: Any, prefixes: list[list[int]]) -> Generation:
        return greedy(model, state, prefixes, **options)

    return {
        "greedy": best,
        "sample": sampler([]),
        "sample, temperature 0.5": sampler([Temperature(0.5)]),
        "sample, top-k 3": sampler([TopK(3)]),
        "sample, top-p 0.8": sampler([TopP(0.8)]),
        "sample, min-p 0.2": sampler([MinP(0.2)]),
        "sample, repetition penalty 1.5": sampler([RepetitionPenalty(1.5)]),
        "beam search, width 4": beam(4),
        "beam search, width 16": beam(16),
        "beam, width 16, length penalty 1": beam(16, 1.0),
    }


# The model this page's figures come from: the example's defaults up to 0.1.x (its
# defaults are now a 2-layer LSTM; these flags keep the printed output reproducible).
MODEL_FLAGS = ["--cell", "gru", "--num-layers", "1", "--dropout", "0.3", "--epochs", "8"]


def trained(args: argparse.Namespace) -> tuple[ConditionalLM[Any], CharTokenizer, list[str]]:
    """The model given by ``--model``, or one the example trains now with MODEL_FLAGS."""
    example: dict[str, Any] = runpy.run_path(str(ROOT / "examples" / "names_generation.py"))
    folder = args.model
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="seqlearn_decoding_docs_"))
        flags = [*MODEL_FLAGS, "--no-progress", "--out", str(folder)]
        if args.data_dir is not None:
            flags += ["--data-dir", str(args.data_dir)]
        with contextlib.redirect_stdout(sys.stderr):  # the training log is not the output
            example["main"](flags)
    generator = seqlearn.load(folder)
    return generator.model, generator.tokenizer, generator.labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--model", type=Path, default=None, help="a run of the example")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    args = parser.parse_args()
    model, tokenizer, categories = trained(args)
    decoders = strategies(tokenizer.eos_id, args.seed)
    print(
        f"{datetime.date.today()}, {platform.system()} {platform.machine()}, torch "
        f"{torch.__version__}, seqlearn {seqlearn.__version__}; names of at most "
        f"{MAX_LENGTH} letters after the start letter; draws seeded with {args.seed}\n"
    )

    rows = [(language, start) for language in LANGUAGES for start in STARTS]
    state = model.initial_state(torch.tensor([categories.index(lang) for lang, _ in rows]))
    prefixes = [tokenizer.encode(start) for _, start in rows]
    names = {
        label: [tokenizer.decode(tokens) for tokens in decode(model, state, prefixes).tokens]
        for label, decode in decoders.items()
    }
    width = max(len(label) for label in decoders) + 2
    for index, language in enumerate(LANGUAGES):
        print(language)
        for label, shown in names.items():
            picked = shown[index * len(STARTS) : (index + 1) * len(STARTS)]
            print(f"  {label:<{width}}" + "".join(f"{name:<13}" for name in picked).rstrip())
        print()

    known = {text for text, _ in load_names(args.data_dir)}
    every = [(category, letter) for category in categories for letter in string.ascii_uppercase]
    state = model.initial_state(torch.tensor([categories.index(lang) for lang, _ in every]))
    prefixes = [tokenizer.encode(letter) for _, letter in every]
    print(f"over {len(every)} prompts ({len(categories)} languages, start letters A to Z):")
    print(f"  {'':<{width}}{'letters':>8}{'log P':>8}{'in data':>9}")
    for label, decode in decoders.items():
        out = decode(model, state, prefixes)
        texts = [tokenizer.decode(tokens) for tokens in out.tokens]
        letters = sum(len(text) for text in texts) / len(texts)
        logprob = sum(out.logprobs) / len(out.logprobs)
        real = sum(text in known for text in texts) / len(texts)
        print(f"  {label:<{width}}{letters:8.2f}{logprob:8.2f}{real:9.0%}")


if __name__ == "__main__":
    main()
