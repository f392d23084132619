"""Generate surnames given their language: the lecture's first task, batched and fused.

Trains a conditional character-level model P(name | language) on the names data (18
languages, 20,074 surnames), reports the held-out negative log-likelihood on a stratified
20% split after every epoch, prints names generated for several languages and start
letters, and writes ``metrics.json``, the model and its tokenizer into ``--out``.

Held-out NLL is measured as the lecture sets the task: given the language and a name's
first letter, the model predicts the 2nd to last letters and then EOS; the figure is the
mean over all those predicted characters of all held-out names, in nats.

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
from typing import Any

import torch
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.data import (
    LabeledTexts,
    LengthBucketSampler,
    NextTokenCollator,
    ShardedBatchSampler,
    load_names,
    stratified_split,
)
from seqlearn.decode import greedy, sample
from seqlearn.nn import Cell, ConditionalLM, ElmanCell, GRUCell, LSTMCell, StackedCell
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import LearningRateScheduler, Trainer, next_token_loss
from seqlearn.train import distributed as processes

CELLS = {"elman": ElmanCell, "gru": GRUCell, "lstm": LSTMCell}
SHOWN_LANGUAGES = ["English", "French", "German", "Italian", "Japanese", "Russian"]
START_LETTERS = "KMS"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` explains each flag."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
    parser.add_argument("--epochs", type=int, default=8, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed for split, weights, batches")
    parser.add_argument("--cell", choices=sorted(CELLS), default="gru", help="recurrent cell kind")
    parser.add_argument("--hidden-size", type=int, default=256, help="hidden state size H")
    parser.add_argument("--num-layers", type=int, default=1, help="stacked recurrent layers")
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.3,
        help="dropout before the output layer and between stacked layers",
    )
    parser.add_argument(
        "--embedding-dim",
        type=int,
        default=32,
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
        "--temperature", type=float, default=0.5, help="temperature of the printed samples"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/names_generation"), help="output folder"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def build_model(
    args: argparse.Namespace, vocab_size: int, num_categories: int
) -> ConditionalLM[Any]:
    """The conditional generator the flags describe."""
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


def encode(
    names: LabeledTexts, indices: list[int], tokenizer: CharTokenizer
) -> list[tuple[list[int], int]]:
    """Token ids and language of each selected name, skipping names that fold to nothing."""
    examples = []
    for index in indices:
        text, label = names[index]
        ids = tokenizer.encode(text)
        if ids:
            examples.append((ids, label))
    return examples


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
    model: ConditionalLM[Any], tokenizer: CharTokenizer, categories: list[str], args: Any
) -> dict[str, list[str]]:
    """Print and return greedy and sampled names for a few languages and start letters."""
    languages = [name for name in SHOWN_LANGUAGES if name in categories]
    rows = [(language, letter) for language in languages for letter in START_LETTERS]
    state = model.initial_state(torch.tensor([categories.index(lang) for lang, _ in rows]))
    prefixes = [tokenizer.encode(letter) for _, letter in rows]
    options = {"eos_id": tokenizer.eos_id, "max_new_tokens": 20}
    best = greedy(model, state, prefixes, **options)
    drawn = sample(
        model,
        state,
        prefixes,
        temperature=args.temperature,
        generator=torch.Generator(model.head.weight.device).manual_seed(args.seed),
        **options,
    )
    shown: dict[str, list[str]] = {}
    for row, (language, _) in enumerate(rows):
        pair = [tokenizer.decode(best.tokens[row]), tokenizer.decode(drawn.tokens[row])]
        shown.setdefault(language, []).extend(pair)
    print(f"\nnames (greedy / sampled at temperature {args.temperature}):")
    for language, names in shown.items():
        print(f"  {language:<9} " + ", ".join(names))
    return shown


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate, sample and save; returns the metrics written to metrics.json."""
    args = parse_args(argv)
    start_processes()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)  # the example owns its process; the library never does this
    names = load_names(args.data_dir, download=args.download)
    tokenizer = CharTokenizer(oov="drop")  # the lecture's alphabet; drops what it lacks
    split = torch.Generator().manual_seed(args.seed)
    train_idx, valid_idx = stratified_split(names.labels, args.valid_fraction, generator=split)
    collate = NextTokenCollator(eos_id=tokenizer.eos_id)
    train = loader(
        encode(names, train_idx, tokenizer),
        args.batch_size,
        collate,
        shuffle=True,
    )
    valid = loader(encode(names, valid_idx, tokenizer), 512, collate, shuffle=False)
    model = build_model(args, len(tokenizer), len(names.categories))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    callbacks = []
    if args.lr_schedule == "one-cycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=args.epochs * len(train), pct_start=0.25
        )
        callbacks.append(LearningRateScheduler(schedule, "step"))
    trainer = Trainer(
        model,
        optimizer,
        next_token_loss,
        callbacks=callbacks,
        clip_grad_norm=args.clip_grad_norm,
        progress=not args.no_progress,
        seed=args.seed,
        device=args.device,
    )
    say(
        f"seqlearn {seqlearn.__version__}: {len(names)} names, {len(names.categories)} "
        f"languages, {len(train_idx)} train / {len(valid_idx)} held out; torch threads "
        f"{torch.get_num_threads()}, processes {processes.world_size()}"
    )
    history = trainer.fit(train, epochs=args.epochs, valid_batches=valid)  # logs each epoch
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
        metrics["samples"] = show_samples(model, tokenizer, names.categories, args)
        save(args.out, model, tokenizer, names.categories, metrics)
    if processes.is_distributed():
        torch.distributed.destroy_process_group()
    return metrics


def say(text: str) -> None:
    """Print from one process only (rank 0 under torchrun)."""
    if processes.is_main_process():
        print(text)


def save(
    out: Path,
    model: ConditionalLM[Any],
    tokenizer: CharTokenizer,
    categories: list[str],
    metrics: dict[str, Any],
) -> None:
    """Write metrics.json, model.pt (a state dict), tokenizer.json and categories.json."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    torch.save(model.state_dict(), out / "model.pt")
    tokenizer.save(out / "tokenizer.json")
    (out / "categories.json").write_text(json.dumps(categories), encoding="utf-8")
    print(f"\nwrote metrics.json, model.pt, tokenizer.json and categories.json to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
