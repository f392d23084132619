"""Classify surnames by language: the lecture's bonus exercise 1, and a stronger model.

Trains a character-level classifier that reads a name and predicts its language (18
languages, 20,074 surnames), holds out a seeded, stratified 20% of each language, reports
training and validation accuracy after every epoch, and writes the trained model into
``--out`` as an artifact folder that ``seqlearn.load`` reads (``config.json``,
``model.safetensors``, ``tokenizer.json``), with ``metrics.json`` and a confusion matrix.

``--lecture`` reproduces the exercise: the lecture's ``RNNForClassification``, plain SGD,
the divergent learning rate found by training a whole epoch per candidate rate, then 5
epochs at a quarter of it. The default trains a bidirectional GRU over learned letter
embeddings, max-pooled over time, with AdamW under a one-cycle schedule.

Your own data works with no code change: a folder of ``<category>.txt`` files (one text
a line) through ``--categories-dir``, or a CSV, TSV or JSON Lines file through ``--data``
(with ``--text-column`` and ``--label-column``). ``--alphabet data`` learns the alphabet
from the training texts (the default for your own data), so names in any script keep their
letters; the lecture's alphabet (the default for the names data) folds to ASCII. Data that
cannot train (one category, a category too small to split, texts outside the alphabet)
stops the run at once with a one-line message.

After training, ``python examples/names_classification.py predict --out DIR NAME [NAME
...]`` loads the folder with ``seqlearn.load`` and prints the three likeliest categories
of each name. The training script also runs under ``torchrun
--nproc_per_node=N``.

Every epoch is checkpointed atomically into ``--out/checkpoint.pt`` (kept after the run);
``--resume`` continues an interrupted run from it, with the same flags, to the weights an
uninterrupted run reaches.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.artifacts import TextClassifier, UnencodableTextError
from seqlearn.data import (
    LabeledTexts,
    LengthBucketSampler,
    ShardedBatchSampler,
    check_classes,
    collate_classification,
    load_names,
    read_category_folder,
    read_labeled_file,
    stratified_split,
)
from seqlearn.nn import (
    Bidirectional,
    GRUCell,
    SequenceClassifier,
    lecture_classifier,
    max_pool,
)
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import (
    Callback,
    LearningRateScheduler,
    ModelCheckpoint,
    RunSettings,
    Trainer,
    classification_loss,
    find_divergent_lr,
    load_resumable,
    resolve_device,
)
from seqlearn.train import distributed as processes

Examples = list[tuple[list[int], int]]

PREDICT_USAGE = (
    "after training, print each name's three likeliest categories with:\n"
    "  python examples/names_classification.py predict --out DIR NAME [NAME ...]"
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
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The training command line; ``--help`` explains each flag."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=PREDICT_USAGE,
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
    parser.add_argument(
        "--lecture",
        action="store_true",
        help="the lecture's exercise: its model, plain SGD at a quarter of the divergent "
        "learning rate, batches of one name; --epochs defaults to 5",
    )
    parser.add_argument(
        "--lr-grid",
        type=float,
        nargs="+",
        default=None,
        metavar="LR",
        help="--lecture: increasing candidate rates of the divergence search "
        "(default: half-decades from 1e-4 to 10)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="training epochs (default: 22; --lecture: 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for split, weights, batches")
    parser.add_argument(
        "--hidden-size",
        type=int,
        default=None,
        help="hidden state size H of each direction (default: 128; --lecture: 128)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=64, help="learned letter embedding size"
    )
    parser.add_argument(
        "--dropout", type=float, default=0.5, help="dropout before the output layer"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="names per training batch (default: 128; --lecture: 1, as the lecture trains)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak AdamW learning rate of the one-cycle schedule (default: 0.008); with "
        "--lecture, a fixed SGD rate that skips the divergence search",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.05,
        help="AdamW's decoupled weight decay (not with --lecture)",
    )
    parser.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        help="share of each target spread over all categories in training (default: 0.1; "
        "--lecture: 0)",
    )
    parser.add_argument(
        "--clip-grad-norm",
        type=float,
        default=1.0,
        help="clip the gradients' global norm (not with --lecture)",
    )
    parser.add_argument(
        "--valid-fraction", type=float, default=0.2, help="held-out share of each category"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/names_classification"), help="output folder"
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
    args = parser.parse_args(argv)
    if args.mixed_precision and resolve_device(args.device).type != "cuda":
        parser.error(f"--mixed-precision needs a CUDA device, got --device {args.device}")
    lecture = args.lecture
    if args.epochs is None:
        args.epochs = 5 if lecture else 22
    if args.hidden_size is None:
        args.hidden_size = 128
    if args.batch_size is None:
        args.batch_size = 1 if lecture else 128
    if args.lr is None and not lecture:
        args.lr = 8e-3
    if args.label_smoothing is None:
        args.label_smoothing = 0.0 if lecture else 0.1
    if not 0.0 <= args.label_smoothing < 1.0:
        parser.error(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if args.lr_grid is not None and (not lecture or args.lr is not None):
        parser.error("--lr-grid needs --lecture and no --lr")
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
    """Shows each set default and keeps the epilog's line breaks (the ``predict`` usage)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:  # defaults that depend on --lecture say so themselves
            return action.help
        return super()._get_help_string(action)


def build_model(args: argparse.Namespace, vocab_size: int, num_classes: int) -> nn.Module:
    """The lecture's classifier, or a bidirectional GRU over embeddings, max-pooled."""
    generator = torch.Generator().manual_seed(args.seed)
    if args.lecture:
        return lecture_classifier(vocab_size, num_classes, args.hidden_size, generator=generator)
    embedding_dim, hidden_size = args.embedding_dim, args.hidden_size
    encoder = Bidirectional(
        GRUCell(embedding_dim, hidden_size, generator=generator),
        GRUCell(embedding_dim, hidden_size, generator=generator),
    )
    return SequenceClassifier(
        encoder,
        vocab_size=vocab_size,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        pooling=max_pool,  # (B, T, 2H) -> (B, 2H): the strongest feature at any letter
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


def encode(texts: LabeledTexts, indices: list[int], tokenizer: CharTokenizer) -> Examples:
    """Token ids and label of each selected text, skipping texts that encode to nothing.

    Raises:
        ValueError: If every text of a category encodes to nothing (outside the alphabet).
    """
    examples = []
    lost: dict[int, str] = {}
    for index in indices:
        text, label = texts[index]
        ids = tokenizer.encode(text)
        if ids:
            examples.append((ids, label))
        else:
            lost.setdefault(label, text)
    emptied = sorted(set(lost) - {label for _, label in examples})
    if emptied:
        shown = ", ".join(f"{texts.categories[i]!r} (e.g. {lost[i]!r})" for i in emptied)
        raise ValueError(
            f"no text of {shown} has a character of the alphabet; train with --alphabet data "
            "to learn the alphabet from your texts"
        )
    return examples


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


def searched_lr(resumed: dict[str, Any] | None) -> float | None:
    """The divergent learning rate that the resumed run searched for (``--lecture`` without
    ``--lr``), so a resumed run does not search again; ``None`` when there is none."""
    value = None if resumed is None else RunSettings.values_in(resumed).get("divergent_lr")
    return None if value is None else float(value)


def loader(
    examples: Examples, batch_size: int, *, shuffle: bool, shard: bool = True
) -> DataLoader[tuple[list[int], int]]:
    """Batches of texts of similar length (this process's share of each, under torchrun).

    The sampler draws from PyTorch's default generator, which the trainer seeds for each
    epoch from ``--seed``, so the batch order repeats from run to run and across processes.
    """
    batches: Any = LengthBucketSampler(
        [len(ids) for ids, _ in examples], batch_size, shuffle=shuffle
    )
    if shard and processes.is_distributed():
        batches = ShardedBatchSampler(batches)
    return DataLoader(
        examples,  # type: ignore[arg-type]
        batch_sampler=batches,
        collate_fn=collate_classification,
    )


def start_processes() -> None:
    """Join the process group when started by ``torchrun`` with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if torch.cuda.is_available():  # one GPU per process
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def lecture_lr(
    model: SequenceClassifier,
    train: DataLoader[tuple[list[int], int]],
    args: argparse.Namespace,
) -> float:
    """The exercise's search: one whole SGD epoch per rate; returns the divergent rate."""
    say("finding the divergent learning rate (one SGD epoch per rate) ...")
    batches = list(train)  # one fixed order, reused for every rate
    result = find_divergent_lr(
        model, classification_loss, batches, lrs=args.lr_grid, seed=args.seed
    )
    for lr, loss in result.losses.items():
        flag = "  diverged" if result.diverged[lr] else ""
        say(f"  lr {lr:<10.4g} loss after one epoch {loss:8.4f}{flag}")
    if result.divergent_lr is None:
        raise SystemExit(
            f"no rate of {sorted(result.losses)} diverged; pass a grid with larger rates "
            "through --lr-grid"
        )
    return result.divergent_lr


def confusion_matrix(
    model: nn.Module, batches: DataLoader[tuple[list[int], int]], num_classes: int
) -> torch.Tensor:
    """Counts ``(C, C)`` of each true label (row) against each predicted label (column)."""
    counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            batch = batch.to(device)
            predicted = model(batch.inputs, batch.lengths).argmax(dim=-1).cpu()  # (B,)
            flat = batch.labels.cpu() * num_classes + predicted
            counts += torch.bincount(flat, minlength=num_classes**2).view(num_classes, -1)
    return counts


def plot_confusion(counts: torch.Tensor, categories: list[str], path: Path) -> bool:
    """Save the row-normalised matrix as a PNG; ``False`` if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return False
    share = counts.double() / counts.sum(dim=1, keepdim=True).clamp(min=1)
    size = 3 + 0.4 * len(categories)
    figure, axes = pyplot.subplots(figsize=(size + 1, size))
    image = axes.imshow(share.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = list(range(len(categories)))
    axes.set_xticks(ticks, categories, rotation=90)
    axes.set_yticks(ticks, categories)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("validation names: share of each true category")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate and save; returns the metrics written to metrics.json."""
    args = parse_args(argv)
    settings = run_settings(args)
    resumed = resumed_state(args, settings)
    start_processes()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)  # the example owns its process; the library never does this
    try:  # data that cannot train stops here, before any training
        texts = load_data(args)
        check_classes(texts.labels, texts.categories, args.valid_fraction)
        split = torch.Generator().manual_seed(args.seed)
        train_idx, valid_idx = stratified_split(texts.labels, args.valid_fraction, generator=split)
        tokenizer = make_tokenizer(args, [texts.texts[i] for i in train_idx])
        train_examples = encode(texts, train_idx, tokenizer)
        valid_examples = encode(texts, valid_idx, tokenizer)
    except (OSError, ValueError, TypeError) as error:
        fail(str(error))
    train = loader(train_examples, args.batch_size, shuffle=True)
    valid = loader(valid_examples, 512, shuffle=False)
    model = build_model(args, len(tokenizer), len(texts.categories))
    say(
        f"seqlearn {seqlearn.__version__}: {len(texts)} texts, {len(texts.categories)} "
        f"categories, {len(train_examples)} train / {len(valid_examples)} held out; "
        f"alphabet {args.alphabet} ({len(tokenizer)} ids); "
        f"torch threads {torch.get_num_threads()}, processes {processes.world_size()}"
    )
    metrics: dict[str, Any] = {}
    run = RunSettings(settings)
    callbacks: list[Callback] = [run]
    if args.lecture:
        if args.lr is None:
            run.values["divergent_lr"] = searched_lr(resumed) or lecture_lr(model, train, args)
            metrics["divergent_lr"] = run.values["divergent_lr"]
            args.lr = metrics["divergent_lr"] / 4
        say(f"training the lecture's model with SGD at lr {args.lr:.4g}")
        optimizer: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
        clip = None
    else:
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=args.lr, weight_decay=args.weight_decay
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=args.lr,
            total_steps=max(args.epochs * len(train), 10),  # tiny data: a few steps
            pct_start=0.25,
        )
        callbacks.append(LearningRateScheduler(schedule, "step"))
        clip = args.clip_grad_norm
    callbacks.append(ModelCheckpoint(args.out / CHECKPOINT))
    objective = functools.partial(classification_loss, label_smoothing=args.label_smoothing)
    trainer = Trainer(
        model,
        optimizer,
        objective,
        callbacks=callbacks,
        clip_grad_norm=clip,
        progress=not args.no_progress,
        seed=args.seed,
        device=args.device,
        mixed_precision=args.mixed_precision,
    )
    resume_from = None if resumed is None else args.out / CHECKPOINT
    history = trainer.fit(  # logs each epoch, and checkpoints it
        train, epochs=args.epochs, valid_batches=valid, resume_from=resume_from
    )
    metrics.update(
        train_accuracy=history.accuracy("train"),
        valid_accuracy=history.accuracy("valid"),
        epoch_seconds=history.epoch_seconds,
        train_seconds=history.total_seconds,
        train_loss=history.train_loss,
        valid_loss=history.valid_loss,
        config={key: str(value) for key, value in vars(args).items()},
    )
    say(
        f"after {len(history.records)} epochs: train accuracy "
        f"{metrics['train_accuracy'][-1]:.4f}, validation accuracy "
        f"{metrics['valid_accuracy'][-1]:.4f}; {history.total_seconds:.1f} s of training"
    )
    if processes.is_main_process():
        counts = confusion_matrix(
            model, loader(valid_examples, 512, shuffle=False, shard=False), len(texts.categories)
        )
        classifier = TextClassifier(model, tokenizer, texts.categories)
        save(args.out, classifier, metrics, counts)
    if processes.is_distributed():
        torch.distributed.destroy_process_group()
    return metrics


def say(text: str) -> None:
    """Print from one process only (rank 0 under torchrun)."""
    if processes.is_main_process():
        print(text)


def save(
    out: Path, classifier: TextClassifier, metrics: dict[str, Any], counts: torch.Tensor
) -> None:
    """Write the model as an artifact folder, with the metrics and the confusion matrix."""
    classifier.save(out, metadata={"metrics": metrics})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    confusion = {"categories": classifier.labels, "counts": counts.tolist()}
    (out / "confusion.json").write_text(json.dumps(confusion), encoding="utf-8")
    written = "config.json, model.safetensors, tokenizer.json, metrics.json, confusion.json"
    if plot_confusion(counts, classifier.labels, out / "confusion.png"):
        written += ", confusion.png"
    else:
        print("matplotlib is missing (pip install -e '.[plot]'): confusion.png skipped")
    print(f"\nwrote {written} to {out}")


def parse_predict_args(argv: list[str]) -> argparse.Namespace:
    """The ``predict`` command line."""
    parser = argparse.ArgumentParser(
        prog="names_classification.py predict",
        description="Print the three likeliest categories of each name, with probabilities.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="names to classify")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/names_classification"),
        help="folder a training run wrote into",
    )
    parser.add_argument("--top", type=int, default=3, help="categories shown per name")
    return parser.parse_args(argv)


def predict(argv: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Print and return the top categories of each name given on the command line."""
    args = parse_predict_args(argv)
    classifier = seqlearn.load(args.out)
    if not isinstance(classifier, TextClassifier):
        raise SystemExit(f"{args.out} holds a {classifier.task} model, not a classifier")
    names = list(args.names)
    try:
        predictions = classifier.predict(names, top_k=min(args.top, len(classifier.labels)))
    except UnencodableTextError as error:  # say which, then predict the others
        print(error)
        names = [name for i, name in enumerate(names) if i not in set(error.indices)]
        predictions = classifier.predict(names, top_k=min(args.top, len(classifier.labels)))
    results: dict[str, list[tuple[str, float]]] = {}
    for prediction in predictions:
        results[prediction.text] = list(zip(prediction.labels, prediction.probabilities))
        print(prediction.text)
        for category, p in results[prediction.text]:
            print(f"  {p:.3f}  {category}")
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["predict"]:
        predict(sys.argv[2:])
    else:
        main(sys.argv[1:])
