"""A character language model over long text, trained with truncated backpropagation.

Reads one UTF-8 text (``--text FILE``, one line a record; by default the Stanford Sentiment
Treebank's training sentences) as a single stream of characters, each line ended by EOS,
cuts it into ``--batch-size`` parallel streams and trains a 2-layer LSTM on windows of
about ``--window`` characters, carrying each stream's state from window to window
(detached between them). It reports bits per character (bpc) on the training stream and
on a held-out text (``--valid FILE``; by default the treebank's dev sentences) evaluated
whole, with the state carried, after every epoch; prints text generated greedily, by
sampling and by beam search; and writes the model as an artifact folder that
``seqlearn.load`` reads, with ``metrics.json`` and ``curves.png``.

The default model is regularised as AWD-LSTM is (weight-drop on the recurrent weights,
locked dropout before the output layer, word dropout, tied embedding and output weights,
activation regularisation); ``--plain`` trains the same LSTM with every regulariser off.
``--max-seconds`` ends training after a time budget (comparing models at equal time).

Every epoch is checkpointed atomically into ``--out/checkpoint.pt``; ``--resume``
continues an interrupted run from it, with the same flags, to the weights an uninterrupted
run reaches. The script also trains in several processes under ``torchrun``.

Run ``python examples/char_lm.py --help`` for the flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import torch

import seqlearn
from seqlearn.artifacts import TextGenerator
from seqlearn.data import StreamBatches, load_sst
from seqlearn.nn import ConditionalLM, LSTMCell, StackedCell, WeightDrop
from seqlearn.nn.cells.base import Cell
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import (
    ActivationRegularization,
    Callback,
    CarriedStateLoss,
    ModelCheckpoint,
    Objective,
    RunSettings,
    TimeLimit,
    Trainer,
    bits_per_token,
    load_resumable,
)
from seqlearn.train import distributed as processes

CHECKPOINT = "checkpoint.pt"  # in --out, rewritten atomically after every epoch
CATEGORY = "text"  # the model's one category: an unconditional language model
STRATEGIES = ["greedy", "sample", "beam"]
# flags that may change on --resume: where and how to run, and what is printed
UNCHECKED = {"out", "resume", "no_progress", "device", "data_dir", "download", "prompt", "length"}
# the regularisers, AWD-LSTM's char-level settings scaled to this model; --plain zeroes them
REGULARISED = {
    "weight_drop": 0.25,
    "dropout": 0.1,
    "word_dropout": 0.05,
    "alpha": 2.0,
    "beta": 1.0,
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each set default; flags whose default is unset say what unset means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` explains each flag."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--text", type=Path, default=None, metavar="FILE",
        help="UTF-8 training text, one record a line (default: the SST train sentences)",
    )  # fmt: skip
    data.add_argument(
        "--valid", type=Path, default=None, metavar="FILE",
        help="held-out UTF-8 text (default with --text: none; else the SST dev sentences)",
    )  # fmt: skip
    data.add_argument(
        "--data-dir", type=Path, default=None,
        help="folder holding sst/ for the default data; unset: $SEQLEARN_DATA, else the "
        "per-user cache",
    )  # fmt: skip
    data.add_argument(
        "--download", action="store_true", help="download the treebank if it is missing"
    )
    data.add_argument(
        "--alphabet", choices=["data", "lecture"], default="data",
        help="every character of the training text (rarer than --min-count: UNK), or the "
        "lecture's 58 ASCII characters (Unicode folded, others dropped)",
    )  # fmt: skip
    data.add_argument("--min-count", type=int, default=5, help="--alphabet data: rarest kept")
    model = parser.add_argument_group("model")
    model.add_argument("--hidden-size", type=int, default=256, help="LSTM size per layer")
    model.add_argument("--num-layers", type=int, default=2, help="stacked LSTM layers")
    model.add_argument(
        "--embedding-dim", type=int, default=None,
        help="character embedding size (default: --hidden-size, which tying needs)",
    )  # fmt: skip
    regular = parser.add_argument_group("regularisation (see the Regularisation page)")
    regular.add_argument(
        "--plain", action="store_true",
        help="no regulariser (weight-drop, dropout, word dropout, AR/TAR, tying all off)",
    )  # fmt: skip
    regular.add_argument(
        "--weight-drop", type=float, default=None,
        help=f"DropConnect on W_hh (default {REGULARISED['weight_drop']})",
    )  # fmt: skip
    regular.add_argument(
        "--dropout", type=float, default=None,
        help=f"locked dropout before the output layer (default {REGULARISED['dropout']})",
    )  # fmt: skip
    regular.add_argument(
        "--word-dropout", type=float, default=None,
        help=f"drop whole characters' embeddings (default {REGULARISED['word_dropout']})",
    )  # fmt: skip
    regular.add_argument(
        "--alpha", type=float, default=None, help=f"AR weight (default {REGULARISED['alpha']})"
    )
    regular.add_argument(
        "--beta", type=float, default=None, help=f"TAR weight (default {REGULARISED['beta']})"
    )
    regular.add_argument(
        "--no-tie", action="store_true", help="keep separate embedding and output weights"
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=10, help="passes over the training text")
    train.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="training time budget in seconds; unset: none",
    )
    train.add_argument("--batch-size", type=int, default=32, help="parallel streams B")
    train.add_argument("--window", type=int, default=128, help="steps per window (BPTT length)")
    train.add_argument(
        "--fixed-window", action="store_true",
        help="windows of exactly --window steps, not drawn around it as AWD-LSTM does",
    )  # fmt: skip
    train.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    train.add_argument("--clip-grad-norm", type=float, default=0.25, help="gradient norm clip")
    train.add_argument("--seed", type=int, default=0, help="seed for weights and windows")
    train.add_argument("--out", type=Path, default=Path("runs/char_lm"), help="output folder")
    train.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out from its checkpoint.pt, with the same flags",
    )  # fmt: skip
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    shown = parser.add_argument_group("generated text")
    shown.add_argument("--prompt", default="The ", help="the start of every generated text")
    shown.add_argument("--length", type=int, default=120, help="most characters generated")
    args = parser.parse_args(argv)
    for name, value in REGULARISED.items():
        if getattr(args, name) is None:
            setattr(args, name, 0.0 if args.plain else value)
    args.tie = not (args.no_tie or args.plain)
    if args.embedding_dim is None:
        args.embedding_dim = args.hidden_size
    if args.tie and args.embedding_dim != args.hidden_size:
        parser.error("tied weights need --embedding-dim equal to --hidden-size (or --no-tie)")
    if args.text is None and args.valid is not None:
        parser.error("--valid needs --text")
    for name in ("epochs", "hidden_size", "num_layers", "length"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.max_seconds is not None and not args.max_seconds > 0:
        parser.error(f"--max-seconds must be positive, got {args.max_seconds}")
    return args


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr and exit status 2, as argparse does for bad flags."""
    print(f"{Path(__file__).name}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (line ends removed)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not any(lines):
        raise ValueError(f"{path} holds no text")
    return lines


def load_texts(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The training lines and the held-out lines (maybe none)."""
    if args.text is not None:
        valid = [] if args.valid is None else read_lines(args.valid)
        return read_lines(args.text), valid
    train = load_sst("train", args.data_dir, download=args.download).texts
    return list(train), list(load_sst("dev", args.data_dir, download=args.download).texts)


def make_tokenizer(args: argparse.Namespace, lines: list[str]) -> CharTokenizer:
    """The alphabet of the training text, or the lecture's."""
    if args.alphabet == "data":
        return CharTokenizer.from_texts(lines, min_count=args.min_count)
    return CharTokenizer(oov="drop")


def as_stream(lines: list[str], tokenizer: CharTokenizer) -> torch.Tensor:
    """Every line's characters followed by EOS, end to end: one long 1-D id tensor."""
    ids: list[int] = []
    for line in lines:
        ids += tokenizer.encode(line)
        ids.append(tokenizer.eos_id)
    return torch.tensor(ids, dtype=torch.long)


def build_model(args: argparse.Namespace, vocab_size: int) -> ConditionalLM[Any]:
    """A stacked LSTM language model with the regularisers the flags ask for."""
    generator = torch.Generator().manual_seed(args.seed)
    cells: list[Cell[Any]] = []
    for depth in range(args.num_layers):
        size = 1 + args.embedding_dim if depth == 0 else args.hidden_size
        cell: Cell[Any] = LSTMCell(size, args.hidden_size, generator=generator)
        if args.weight_drop:
            cell = WeightDrop(cell, args.weight_drop)  # type: ignore[arg-type]
        cells.append(cell)
    return ConditionalLM(
        cells[0] if len(cells) == 1 else StackedCell(cells),
        vocab_size=vocab_size,
        num_categories=1,
        embedding_dim=args.embedding_dim,
        dropout=args.dropout,
        locked_dropout=True,
        word_dropout=args.word_dropout,
        tie_weights=args.tie,
        generator=generator,
    )


def start_processes() -> None:
    """Join the process group when started by ``torchrun`` with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def say(text: str) -> None:
    """Print from one process only (rank 0 under torchrun)."""
    if processes.is_main_process():
        print(text)


def show_samples(generator: TextGenerator, args: argparse.Namespace) -> dict[str, list[str]]:
    """Print and return text generated from ``--prompt`` by each decoding strategy."""
    shown: dict[str, list[str]] = {}
    for strategy in STRATEGIES:
        n = 1 if strategy == "greedy" else 2
        try:
            shown[strategy] = generator.generate(
                CATEGORY,
                n=n,
                prefix=args.prompt,
                strategy=strategy,  # type: ignore[arg-type]
                max_length=args.length,
                temperature=0.7,
                beam_width=4,
                seed=args.seed,
            )
        except ValueError as error:  # a prompt the alphabet cannot encode
            fail(f"--prompt {args.prompt!r}: {error}")
    for strategy, texts in shown.items():
        title = {"sample": "sampled at temperature 0.7", "beam": "beam search, width 4"}
        say(f"\n{title.get(strategy, strategy)}:")
        for text in texts:
            say(f"  {text}")
    return shown


def plot_curves(metrics: dict[str, Any], path: Path) -> None:
    """Bits per character per epoch, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed: no curves.png (pip install matplotlib)")
        return
    figure, axes = plt.subplots(figsize=(5, 3.2))
    epochs = range(1, len(metrics["train_bpc"]) + 1)
    axes.plot(epochs, metrics["train_bpc"], marker="o", label="train (dropout on)")
    if metrics["valid_bpc"]:
        axes.plot(epochs, metrics["valid_bpc"], marker="o", label="held out")
    axes.set_xlabel("epoch")
    axes.set_ylabel("bits per character")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate, generate and save; returns the metrics written to metrics.json."""
    args = parse_args(argv)
    settings = {key: str(value) for key, value in vars(args).items() if key not in UNCHECKED}
    resume_from = None
    if args.resume:
        try:
            load_resumable(args.out / CHECKPOINT, settings)
        except ValueError as error:
            fail(f"--resume: {error}")
        resume_from = args.out / CHECKPOINT
    start_processes()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)  # the example owns its process; the library never does this
    try:  # data that cannot train stops here, before any training
        train_lines, valid_lines = load_texts(args)
        tokenizer = make_tokenizer(args, train_lines)
        if not tokenizer.encode(args.prompt) and tokenizer.bos_id is None:  # not after training
            raise ValueError(f"--prompt {args.prompt!r} has no character of the alphabet")
        train_ids = as_stream(train_lines, tokenizer)
        train = StreamBatches(
            train_ids,
            batch_size=args.batch_size,
            window=args.window,
            vary_window=not args.fixed_window,
        )
        valid = None
        if valid_lines:
            valid_ids = as_stream(valid_lines, tokenizer)
            valid = StreamBatches(valid_ids, batch_size=min(args.batch_size, 16), window=256)
    except (OSError, ValueError, TypeError) as error:
        fail(str(error))
    try:  # so are sizes, rates and devices the model, optimiser or trainer refuse
        model = build_model(args, len(tokenizer))
        objective: Objective[Any, Any] = CarriedStateLoss()
        if args.alpha or args.beta:
            objective = ActivationRegularization(
                objective, model.recurrent, alpha=args.alpha, beta=args.beta
            )
        callbacks: list[Callback] = [RunSettings(settings), ModelCheckpoint(args.out / CHECKPOINT)]
        if args.max_seconds is not None:
            callbacks.append(TimeLimit(args.max_seconds))
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        trainer = Trainer(
            model,
            optimizer,
            objective,
            callbacks=callbacks,
            clip_grad_norm=args.clip_grad_norm,
            progress=not args.no_progress,
            seed=args.seed,
            device=args.device,
        )
    except (ValueError, TypeError) as error:
        fail(str(error))
    say(
        f"seqlearn {seqlearn.__version__}: {len(train_ids):,} training characters in "
        f"{train.batch_size} streams of {train.steps:,}, windows of about {args.window}; "
        f"{0 if valid is None else valid.num_targets * processes.world_size():,} held out; "
        f"alphabet {args.alphabet} ({len(tokenizer)} ids); "
        f"{'plain' if args.plain else 'regularised'} LSTM {args.num_layers}x{args.hidden_size}"
        f"; torch threads {torch.get_num_threads()}"
    )
    started = time.perf_counter()
    history = trainer.fit(train, epochs=args.epochs, valid_batches=valid, resume_from=resume_from)
    metrics: dict[str, Any] = {
        "train_bpc": [bits_per_token(loss) for loss in history.train_loss],
        "valid_bpc": [bits_per_token(loss) for loss in history.valid_loss if loss is not None],
        "epoch_seconds": history.epoch_seconds,
        # this fit's wall clock, validation passes and a last unfinished epoch included
        "train_seconds": time.perf_counter() - started,
        "config": {key: str(value) for key, value in vars(args).items()},
    }
    if valid is not None:  # where training stopped (a time limit may end it mid-epoch)
        metrics["final_valid_bpc"] = bits_per_token(trainer.validate(valid).loss)
        say(f"held-out bits per character: {metrics['final_valid_bpc']:.4f}")
    if processes.is_main_process():
        generator = TextGenerator(model, tokenizer, [CATEGORY])
        metrics["samples"] = show_samples(generator, args)
        generator.save(args.out, metadata={"metrics": metrics})
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        plot_curves(metrics, args.out / "curves.png")
        say(f"\nwrote the model, metrics.json and curves.png to {args.out}")
    if processes.is_distributed():
        torch.distributed.destroy_process_group()
    return metrics


if __name__ == "__main__":
    main()
