"""Generate surnames given their language: the lecture's first task, batched and fused.

Trains a conditional character-level model P(name | language) on the names data (18
languages, 20,074 surnames), reports the held-out negative log-likelihood on a stratified
20% split after every epoch, prints names generated for several languages and start
letters, and writes the trained model into ``--out`` as an artifact folder that
``seqlearn.load`` reads (``config.json``, ``model.safetensors``, ``tokenizer.json``), with
``metrics.json``.

Held-out NLL is measured as the lecture sets the task: given the language and a name's
first letter, the model predicts the 2nd to last letters and then EOS; the figure is the
mean over all those predicted characters of all held-out names, in nats.

The printed names are decoded greedily, by sampling (with temperature, top-k and top-p),
or by beam search (``--strategy``). After training, ``python examples/names_generation.py
generate --out DIR [LANGUAGE ...]`` loads the folder with ``seqlearn.load`` and prints
names for the given languages and start letters, with the same decoding flags, without
retraining.

Your own data works with no code change: a folder of ``<category>.txt`` files through
``--categories-dir``, or a CSV, TSV or JSON Lines file through ``--data`` (with
``--text-column`` and ``--label-column``); ``--alphabet data`` (the default for your own
data) learns the alphabet from the training texts, so names in any script keep their
letters. Data that cannot train stops the run at once with a one-line message.

Every epoch is checkpointed atomically into ``--out/checkpoint.pt`` (kept after the run);
``--resume`` continues an interrupted run from it, with the same flags, to the weights an
uninterrupted run reaches.

Run ``python examples/names_generation.py --help`` for the flags. The same script trains
in several processes under ``torchrun --nproc_per_node=N examples/names_generation.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.artifacts import TextGenerator
from seqlearn.data import (
    LabeledTexts,
    LengthBucketSampler,
    NextTokenCollator,
    ShardedBatchSampler,
    check_classes,
    load_names,
    read_category_folder,
    read_labeled_file,
    stratified_split,
)
from seqlearn.decode import LogitsProcessor, Temperature, TopK, TopP
from seqlearn.nn import Cell, ConditionalLM, ElmanCell, GRUCell, LSTMCell, StackedCell
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import (
    Callback,
    LearningRateScheduler,
    ModelCheckpoint,
    RunSettings,
    Trainer,
    load_resumable,
    next_token_loss,
    resolve_device,
)
from seqlearn.train import distributed as processes

CELLS = {"elman": ElmanCell, "gru": GRUCell, "lstm": LSTMCell}
SHOWN_LANGUAGES = ["English", "French", "German", "Italian", "Japanese", "Russian"]
START_LETTERS = "KMS"
STRATEGIES = ["greedy", "sample", "beam"]
MAX_LENGTH = 20  # letters generated after the start, as the lecture's max_length

GENERATE_USAGE = (
    "after training, print names for given languages and start letters with:\n"
    "  python examples/names_generation.py generate --out DIR [LANGUAGE ...] [--start K M S]"
)


CHECKPOINT = "checkpoint.pt"  # in --out, rewritten atomically after every epoch
# flags that may change on --resume: where and how to run, and what is printed
UNCHECKED = {
    "out",
    "resume",
    "no_progress",
    "device",
    "data_dir",
    "download",
    "strategy",
    "temperature",
    "top_k",
    "top_p",
    "beam_width",
    "num_samples",
    "start",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` explains each flag."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=GENERATE_USAGE,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding names/; unset: $SEQLEARN_DATA, else the per-user cache",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download and verify the names data into --data-dir if it is missing",
    )
    add_data_flags(parser)
    parser.add_argument("--epochs", type=int, default=7, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed for split, weights, batches")
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell kind")
    parser.add_argument("--hidden-size", type=int, default=256, help="hidden state size H")
    parser.add_argument("--num-layers", type=int, default=2, help="stacked recurrent layers")
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.15,
        help="dropout before the output layer and between stacked layers",
    )
    parser.add_argument(
        "--embedding-dim",
        type=int,
        default=64,
        help="learned letter embedding size (0: one-hot letters, as in the lecture)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="names per batch")
    parser.add_argument("--lr", type=float, default=6e-3, help="peak Adam learning rate")
    parser.add_argument(
        "--lr-schedule",
        choices=["one-cycle", "constant"],
        default="one-cycle",
        help="one-cycle: warm up to --lr over the first quarter, then anneal (OneCycleLR)",
    )
    parser.add_argument(
        "--clip-grad-norm", type=float, default=1.0, help="clip the gradients' global norm"
    )
    parser.add_argument(
        "--valid-fraction", type=float, default=0.2, help="held-out share of each language"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/names_generation"), help="output folder"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its checkpoint.pt (written after every epoch) "
        "with the same flags, to the weights an uninterrupted run reaches",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps"
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="train in bfloat16 autocast (CUDA devices only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_decoding_flags(parser)
    args = parser.parse_args(argv)
    if args.mixed_precision and resolve_device(args.device).type != "cuda":
        parser.error(f"--mixed-precision needs a CUDA device, got --device {args.device}")
    check_decoding_flags(parser, args)
    if args.alphabet is None:
        own_data = args.categories_dir is not None or args.data is not None
        args.alphabet = "data" if own_data else "lecture"
    return args


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    """The flags for your own data and for the alphabet."""
    group = parser.add_argument_group("your own data (instead of the names data)")
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--categories-dir",
        type=Path,
        default=None,
        help="a folder of <category>.txt files, one text a line",
    )
    source.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="FILE",
        help="a CSV, TSV or JSON Lines file (.csv, .tsv, .jsonl), one text and its label a row",
    )
    group.add_argument("--text-column", default="text", help="--data: the column of texts")
    group.add_argument("--label-column", default="label", help="--data: the column of labels")
    group.add_argument(
        "--alphabet",
        choices=["lecture", "data"],
        default=None,
        help="the lecture's 58 ASCII characters (Unicode folded, others dropped), or every "
        "character of the training texts (default: lecture for the names data, data for "
        "your own)",
    )
    group.add_argument(
        "--min-count",
        type=int,
        default=1,
        help="--alphabet data: characters rarer than this in the training texts become UNK",
    )


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows each set default and keeps the epilog's line breaks (the ``generate`` usage)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:  # unset flags say what unset means themselves
            return action.help
        return super()._get_help_string(action)


def add_decoding_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that choose how the printed names are decoded (training and ``generate``)."""
    group = parser.add_argument_group("printed names")
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="decode the names greedily, by sampling or by beam search; unset: a greedy and "
        "a sampled name for each start, side by side",
    )
    group.add_argument(
        "--temperature", type=float, default=0.5, help="temperature of the sampled names"
    )
    group.add_argument(
        "--top-k", type=int, default=None, help="sample among the K likeliest letters only"
    )
    group.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="sample among the likeliest letters holding this share of the probability only",
    )
    group.add_argument(
        "--beam-width", type=int, default=4, help="hypotheses kept per name by beam search"
    )
    group.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="names per language and start: draws (sample) or best hypotheses (beam)",
    )
    group.add_argument(
        "--start",
        nargs="+",
        metavar="PREFIX",
        help="start letters (or longer beginnings) of the printed names (default: "
        f"{' '.join(START_LETTERS)} for the names data, else the commonest first letters)",
    )


def check_decoding_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop on decoding flags that the decoders would refuse."""
    try:
        sampling_processors(args)
        Temperature(args.temperature)
        if args.num_samples < 1:
            raise ValueError(f"expected --num-samples >= 1, got {args.num_samples}")
        if args.beam_width < 1:
            raise ValueError(f"expected --beam-width >= 1, got {args.beam_width}")
    except ValueError as error:
        parser.error(str(error))
    if args.strategy == "beam" and args.num_samples > args.beam_width:
        parser.error(
            f"--num-samples {args.num_samples} needs --beam-width >= {args.num_samples} "
            "with --strategy beam"
        )
    if args.strategy == "greedy" and args.num_samples > 1:
        parser.error("--num-samples above 1 needs --strategy sample or beam")


def sampling_processors(args: argparse.Namespace) -> list[LogitsProcessor]:
    """Top-k, then top-p filtering, as the flags ask (after the temperature)."""
    processors: list[LogitsProcessor] = []
    if args.top_k is not None:
        processors.append(TopK(args.top_k))
    if args.top_p is not None:
        processors.append(TopP(args.top_p))
    return processors


def build_model(
    args: argparse.Namespace, vocab_size: int, num_categories: int
) -> ConditionalLM[Any]:
    """The conditional generator that the flags describe."""
    generator = torch.Generator().manual_seed(args.seed)
    embedding_dim = args.embedding_dim or None
    input_size = num_categories + (embedding_dim or vocab_size)
    kind = CELLS[args.cell]
    cells: list[Cell[Any]] = []
    for depth in range(args.num_layers):
        size = input_size if depth == 0 else args.hidden_size
        cells.append(kind(size, args.hidden_size, generator=generator))
    cell = cells[0] if len(cells) == 1 else StackedCell(cells, dropout=args.dropout)
    return ConditionalLM(
        cell,
        vocab_size=vocab_size,
        num_categories=num_categories,
        embedding_dim=embedding_dim,
        dropout=args.dropout,
        generator=generator,
    )


def load_data(args: argparse.Namespace) -> LabeledTexts:
    """The names data (verified), or your own folder or file (read as it is)."""
    if args.categories_dir is not None:
        return read_category_folder(args.categories_dir)
    if args.data is not None:
        return read_labeled_file(
            args.data, text_column=args.text_column, label_column=args.label_column
        )
    return load_names(args.data_dir, download=args.download)


def make_tokenizer(args: argparse.Namespace, train_texts: list[str]) -> CharTokenizer:
    """The lecture's alphabet, or one learned from the training texts."""
    if args.alphabet == "data":
        return CharTokenizer.from_texts(train_texts, min_count=args.min_count)  # rare: UNK
    return CharTokenizer(oov="drop")  # the lecture's alphabet; drops what it lacks


def encode(
    names: LabeledTexts, indices: list[int], tokenizer: CharTokenizer
) -> list[tuple[list[int], int]]:
    """Token ids and category of each selected text, skipping texts that encode to nothing.

    Raises:
        ValueError: If every text of a category encodes to nothing (outside the alphabet).
    """
    examples = []
    lost: dict[int, str] = {}
    for index in indices:
        text, label = names[index]
        ids = tokenizer.encode(text)
        if ids:
            examples.append((ids, label))
        else:
            lost.setdefault(label, text)
    emptied = sorted(set(lost) - {label for _, label in examples})
    if emptied:
        shown = ", ".join(f"{names.categories[i]!r} (e.g. {lost[i]!r})" for i in emptied)
        raise ValueError(
            f"no text of {shown} has a character of the alphabet; train with --alphabet data "
            "to learn the alphabet from your texts"
        )
    return examples


def common_starts(texts: list[str], count: int = 3) -> list[str]:
    """The commonest first characters of ``texts``: the starts shown for your own data."""
    firsts: dict[str, int] = {}
    for text in texts:
        firsts[text[0]] = firsts.get(text[0], 0) + 1
    return sorted(firsts, key=lambda char: (-firsts[char], char))[:count]


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr and exit status 2, as argparse does for bad flags."""
    print(f"{Path(__file__).name}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def run_settings(args: argparse.Namespace) -> dict[str, str]:
    """The flags that decide what a run trains, as strings: a resumed run must repeat them."""
    return {key: str(value) for key, value in vars(args).items() if key not in UNCHECKED}


def resumed_state(args: argparse.Namespace, settings: dict[str, str]) -> dict[str, Any] | None:
    """With ``--resume``, the run state in ``--out/checkpoint.pt`` (written with the same
    settings, or the run stops with one line); ``None`` without ``--resume``."""
    if not args.resume:
        return None
    try:
        return load_resumable(args.out / CHECKPOINT, settings)
    except ValueError as error:
        fail(f"--resume: {error}")


def loader(
    examples: list[tuple[list[int], int]],
    batch_size: int,
    collate: NextTokenCollator,
    *,
    shuffle: bool,
) -> DataLoader[tuple[list[int], int]]:
    """Batches of names of similar length (this process's share of each, under torchrun).

    The sampler draws from PyTorch's default generator, which the trainer seeds for each
    epoch from ``--seed``: the batch order repeats exactly from run to run, and is the same
    in every process.
    """
    batches: Any = LengthBucketSampler(
        [len(ids) for ids, _ in examples], batch_size, shuffle=shuffle
    )
    if processes.is_distributed():
        batches = ShardedBatchSampler(batches)
    return DataLoader(examples, batch_sampler=batches, collate_fn=collate)  # type: ignore[arg-type]


def start_processes() -> None:
    """Join the process group when started by ``torchrun`` with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if torch.cuda.is_available():  # one GPU per process
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def show_samples(
    generator: TextGenerator, languages: list[str], args: argparse.Namespace
) -> dict[str, list[str]]:
    """Print and return names for each language and start, decoded as the flags ask.

    Without ``--strategy``: a greedy and a sampled name for each start, side by side.
    """
    if args.strategy is None:
        strategies = ["greedy", "sample"]
        title = f"greedy / {describe('sample', args)}"
    else:
        strategies, title = [args.strategy], describe(args.strategy, args)
    shown: dict[str, list[str]] = {language: [] for language in languages}
    for row, (language, start) in enumerate((lang, s) for lang in languages for s in args.start):
        for strategy in strategies:
            n = 1 if args.strategy is None or strategy == "greedy" else args.num_samples
            try:
                shown[language] += generator.generate(
                    language,
                    n=n,
                    prefix=start,
                    strategy=strategy,  # type: ignore[arg-type]
                    max_length=MAX_LENGTH,
                    temperature=args.temperature,
                    processors=sampling_processors(args) if strategy == "sample" else [],
                    beam_width=args.beam_width,
                    seed=args.seed + row,
                )
            except ValueError as error:  # a start the alphabet cannot encode
                raise SystemExit(f"--start {start!r}: {error}") from error
    print(f"\nnames ({title}):")
    for language, names in shown.items():
        print(f"  {language:<10} " + ", ".join(names))
    return shown


def shown_languages(generator: TextGenerator) -> list[str]:
    """The languages names are printed for: the lecture's six for the names data, else the
    model's first six categories."""
    known = [name for name in SHOWN_LANGUAGES if name in generator.categories]
    return known if len(known) == len(SHOWN_LANGUAGES) else generator.categories[:6]


def describe(strategy: str, args: argparse.Namespace) -> str:
    """A decoding strategy and its flags in words, for the printed title."""
    if strategy == "greedy":
        return "greedy"
    if strategy == "beam":
        return f"beam search of width {args.beam_width}, the best {args.num_samples} per start"
    options = [f"temperature {args.temperature}"]
    options += [f"top-k {args.top_k}"] * (args.top_k is not None)
    options += [f"top-p {args.top_p}"] * (args.top_p is not None)
    drawn = f", {args.num_samples} per start" if args.strategy == "sample" else ""
    return f"sampled at {', '.join(options)}{drawn}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate, sample and save; returns the metrics written to metrics.json."""
    args = parse_args(argv)
    settings = run_settings(args)
    resumed = resumed_state(args, settings)
    start_processes()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)  # the example owns its process; the library never does this
    try:  # data that cannot train stops here, before any training
        names = load_data(args)
        check_classes(names.labels, names.categories, args.valid_fraction, min_categories=1)
        split = torch.Generator().manual_seed(args.seed)
        train_idx, valid_idx = stratified_split(names.labels, args.valid_fraction, generator=split)
        tokenizer = make_tokenizer(args, [names.texts[i] for i in train_idx])
        train_examples = encode(names, train_idx, tokenizer)
        valid_examples = encode(names, valid_idx, tokenizer)
    except (OSError, ValueError, TypeError) as error:
        fail(str(error))
    if not args.start:
        own_data = args.categories_dir is not None or args.data is not None
        args.start = common_starts(names.texts) if own_data else list(START_LETTERS)
    collate = NextTokenCollator(eos_id=tokenizer.eos_id)
    train = loader(train_examples, args.batch_size, collate, shuffle=True)
    valid = loader(valid_examples, 512, collate, shuffle=False)
    model = build_model(args, len(tokenizer), len(names.categories))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    callbacks: list[Callback] = [RunSettings(settings)]
    if args.lr_schedule == "one-cycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=args.lr,
            total_steps=max(args.epochs * len(train), 10),  # tiny data: a few steps
            pct_start=0.25,
        )
        callbacks.append(LearningRateScheduler(schedule, "step"))
    callbacks.append(ModelCheckpoint(args.out / CHECKPOINT))
    trainer = Trainer(
        model,
        optimizer,
        next_token_loss,
        callbacks=callbacks,
        clip_grad_norm=args.clip_grad_norm,
        progress=not args.no_progress,
        seed=args.seed,
        device=args.device,
        mixed_precision=args.mixed_precision,
    )
    say(
        f"seqlearn {seqlearn.__version__}: {len(names)} names, {len(names.categories)} "
        f"languages, {len(train_examples)} train / {len(valid_examples)} held out; "
        f"alphabet {args.alphabet} ({len(tokenizer)} ids); torch threads "
        f"{torch.get_num_threads()}, processes {processes.world_size()}"
    )
    resume_from = None if resumed is None else args.out / CHECKPOINT
    history = trainer.fit(  # logs each epoch, and checkpoints it
        train, epochs=args.epochs, valid_batches=valid, resume_from=resume_from
    )
    say(
        f"held-out NLL after {args.epochs} epochs: {history.valid_loss[-1]:.4f} nats per "
        f"character; {history.total_seconds:.1f} s of training"
    )
    metrics: dict[str, Any] = {
        "valid_nll": history.valid_loss,
        "epoch_seconds": history.epoch_seconds,
        "train_seconds": history.total_seconds,
        "train_loss": history.train_loss,
        "config": {key: str(value) for key, value in vars(args).items()},
    }
    if processes.is_main_process():
        generator = TextGenerator(model, tokenizer, names.categories)
        metrics["samples"] = show_samples(generator, shown_languages(generator), args)
        save(args.out, generator, metrics, args.start)
    if processes.is_distributed():
        torch.distributed.destroy_process_group()
    return metrics


def say(text: str) -> None:
    """Print from one process only (rank 0 under torchrun)."""
    if processes.is_main_process():
        print(text)


def save(out: Path, generator: TextGenerator, metrics: dict[str, Any], starts: list[str]) -> None:
    """Write the model as an artifact folder (with the metrics and the start letters shown
    in its metadata, for ``generate``), and metrics.json beside it."""
    generator.save(out, metadata={"metrics": metrics, "starts": starts})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(f"\nwrote config.json, model.safetensors, tokenizer.json and metrics.json to {out}")


def parse_generate_args(argv: list[str]) -> argparse.Namespace:
    """The ``generate`` command line."""
    parser = argparse.ArgumentParser(
        prog="names_generation.py generate",
        description="Print names for given languages and start letters from a saved model.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "languages",
        nargs="*",
        metavar="LANGUAGE",
        help=f"languages of the names (default: {' '.join(SHOWN_LANGUAGES)}, or the model's "
        "first six categories)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/names_generation"),
        help="folder a training run wrote into",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled names")
    add_decoding_flags(parser)
    args = parser.parse_args(argv)
    check_decoding_flags(parser, args)
    return args


def generate(argv: list[str]) -> dict[str, list[str]]:
    """Print and return names for the languages and starts given on the command line."""
    args = parse_generate_args(argv)
    generator = seqlearn.load(args.out)
    if not isinstance(generator, TextGenerator):
        raise SystemExit(f"{args.out} holds a {generator.task} model, not a generator")
    languages = args.languages or shown_languages(generator)
    args.start = args.start or generator.metadata.get("starts") or list(START_LETTERS)
    unknown = [language for language in languages if language not in generator.categories]
    if unknown:
        raise SystemExit(f"unknown languages {unknown}; the model knows {generator.categories}")
    return show_samples(generator, languages, args)


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        generate(sys.argv[2:])
    else:
        main(sys.argv[1:])
