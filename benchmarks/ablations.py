"""Ablations the example pages record that the examples' own flags do not offer.

Runs one example (``names_classification``, ``names_generation`` or ``sentiment``) in this
process with its own flags, after changing one thing the flags cannot reach:

- ``--label-smoothing E``: ``sentiment``'s cross-entropy with label smoothing ``E``
  (``classification_loss(label_smoothing=E)``, in training only); refused for
  ``names_classification``, which has its own ``--label-smoothing`` flag.
- ``--ema DECAY`` (with ``--ema-start EPOCH``): an exponential moving average of the
  weights, updated after every optimiser step from epoch ``EPOCH`` on, is what each
  validation scores (the trained weights are put back after it); ``--ema 1`` is the plain
  mean of the weights from ``EPOCH`` on (stochastic weight averaging without its schedule).
- ``--weight-drop P``: every GRU cell the example builds is wrapped in
  :class:`seqlearn.nn.WeightDrop` (the classifiers).
- ``--word-dropout P``, ``--embedding-dropout P``: set on the
  :class:`seqlearn.nn.SequenceClassifier` the example builds.
- ``--two-layers P`` (with ``--locked``): the classifier's encoder becomes two
  bidirectional GRU layers of the example's ``--hidden-size`` with dropout ``P`` between
  them (locked: one mask per sequence).
- ``--pooling max+mean|max+final|attention``: the classifier pools the encoder's outputs
  with the max and the mean side by side, the max and both directions' final outputs side
  by side, or :class:`seqlearn.nn.AttentionPooling`, instead of the max alone.
- ``--widen-embedding N`` (``sentiment``): ``N`` learned dimensions, drawn from
  ``N(0, 0.1^2)``, appended to each word's GloVe vector.
- ``--oversample-sentences K`` (``sentiment``): the training phrases plus ``K`` more copies
  of every whole training sentence.
- ``--model-seed S``: the model's initial weights drawn with seed ``S`` instead of
  ``--seed`` (which also picks the names' split), so several models share one split.

``--ensemble DIR DIR ...`` instead scores the average of the class probabilities of the
models that earlier runs saved (the example's ``--out`` folders) on the example's held-out
data in ``--data-dir`` (default: ``$SEQLEARN_DATA``, else the per-user cache):
``names_classification``'s held-out fifth of the split of ``--seed`` (the example's
default ``--valid-fraction``), ``sentiment``'s ``rotten_tomatoes/valid.tsv`` phrases and
sentences; next to each model's own accuracy.

It prints one line: the example's final validation figures, its training seconds and the
load average. Time only on an otherwise idle machine, one run at a time::

    python benchmarks/ablations.py sentiment --label-smoothing 0.1 -- --no-progress
    python benchmarks/ablations.py names_classification --ensemble runs/a runs/b
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import torch

import seqlearn
from seqlearn.artifacts import TextClassifier
from seqlearn.data import load_names, read_sentiment_file, stratified_split
from seqlearn.data.names import default_data_dir
from seqlearn.nn import (
    AttentionPooling,
    Bidirectional,
    GRUCell,
    SequenceClassifier,
    StackedLayers,
    WeightDrop,
    bidirectional_final,
    max_pool,
    mean_pool,
    register,
)
from seqlearn.train import Callback, Trainer, classification_loss

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("names_classification", "names_generation", "sentiment")


class WeightAverage(Callback):
    """An average of the weights, updated after each step from a given epoch on."""

    def __init__(self, decay: float, start_epoch: int) -> None:
        self.decay, self.start_epoch = decay, start_epoch
        self.average: list[torch.Tensor] | None = None
        self.count, self.epoch = 0, 0

    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        self.epoch = epoch

    def on_step_end(self, trainer: Any, step: int) -> None:
        if self.epoch < self.start_epoch:
            return
        weights = [p.detach() for p in trainer.model.parameters()]
        if self.average is None:
            self.average = [w.clone() for w in weights]
            return
        self.count += 1
        decay = self.decay if self.decay < 1 else 1 - 1 / (self.count + 1)  # 1: the mean
        torch._foreach_lerp_(self.average, weights, 1 - decay)


def score_the_average(average: WeightAverage) -> None:
    """Make every ``Trainer.validate`` score the averaged weights, then restore them."""
    validate = Trainer.validate

    def validate_average(trainer: Trainer[Any, Any], batches: Any) -> Any:
        if average.average is None:
            return validate(trainer, batches)
        params = list(trainer.model.parameters())
        trained = [p.detach().clone() for p in params]
        with torch.no_grad():
            torch._foreach_copy_(params, average.average)
        try:
            return validate(trainer, batches)
        finally:
            with torch.no_grad():
                torch._foreach_copy_(params, trained)

    init = Trainer.__init__

    def init_with_average(trainer: Trainer[Any, Any], *args: Any, **kwargs: Any) -> None:
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), average]
        init(trainer, *args, **kwargs)

    Trainer.validate = validate_average  # type: ignore[method-assign, assignment]
    Trainer.__init__ = init_with_average  # type: ignore[method-assign, assignment]


@register("benchmarks.ablations.max_and_mean")
def max_and_mean(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, F) -> (B, 2F)``: the max and the mean over the valid steps, side by side."""
    return torch.cat((max_pool(outputs, lengths), mean_pool(outputs, lengths)), dim=-1)


@register("benchmarks.ablations.max_and_final")
def max_and_final(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, F) -> (B, 2F)``: the max, and both directions' final outputs, side by side."""
    return torch.cat((max_pool(outputs, lengths), bidirectional_final(outputs, lengths)), -1)


def change(example: dict[str, Any], args: argparse.Namespace) -> None:
    """Apply the ablation's changes to the example's namespace."""
    if args.label_smoothing:
        smoothing = args.label_smoothing
        example["classification_loss"] = functools.partial(
            classification_loss, label_smoothing=smoothing
        )
    if args.weight_drop:
        plain = example["GRUCell"]

        def dropped(*cell_args: Any, **kwargs: Any) -> WeightDrop[Any]:
            cell = plain(*cell_args, **kwargs)
            return WeightDrop(cell, args.weight_drop, generator=kwargs.get("generator"))

        example["GRUCell"] = dropped
    if args.widen_embedding:
        widen(example, args.widen_embedding)
    if args.oversample_sentences:
        oversample(example, args.oversample_sentences)
    build = example["build_model"]

    def build_changed(flags: argparse.Namespace, *more: Any) -> Any:
        if args.model_seed is not None:
            flags = copy.copy(flags)
            flags.seed = args.model_seed  # the weights' seed; the split is already drawn
        model = build(flags, *more)
        changes: dict[str, Any] = {}
        if args.two_layers is not None:
            changes["encoder"] = two_layers(model.input_size, flags, args)
        if args.pooling is not None:
            encoder = changes.get("encoder", model.encoder)
            features = encoder.output_size  # F of the encoder's outputs (B, T, F)
            if args.pooling == "attention":
                generator = torch.Generator().manual_seed(flags.seed)
                changes["pooling"] = AttentionPooling(features, generator=generator)
                changes["hidden_size"] = features
            else:
                changes["pooling"] = POOLINGS[args.pooling]
                changes["hidden_size"] = 2 * features
        if changes:
            model = rebuilt(model, flags.seed, **changes)
        if args.word_dropout is not None:
            model.word_dropout = args.word_dropout
        if args.embedding_dropout is not None:
            model.embedding_dropout = args.embedding_dropout
        return model

    example["build_model"] = build_changed


POOLINGS = {"max+mean": max_and_mean, "max+final": max_and_final}


def rebuilt(model: SequenceClassifier, seed: int, **changes: Any) -> SequenceClassifier:
    """The example's classifier again, with some of its parts changed (a new output layer)."""
    parts: dict[str, Any] = {
        "encoder": model.encoder,
        "vocab_size": model.vocab_size,
        "num_classes": model.num_classes,
        "pooling": model.pooling,
        "dropout": model.dropout,
        "embedding_dropout": model.embedding_dropout,
        "word_dropout": model.word_dropout,
        "generator": torch.Generator().manual_seed(seed),
    }
    embedding = model.token_embedding
    assert embedding is not None, "the examples' classifiers embed their tokens"
    if model.pretrained_embedding:
        parts["embedding"] = embedding
    else:
        parts["embedding_dim"] = embedding.embedding_dim
    return SequenceClassifier(**{**parts, **changes})


def two_layers(input_size: int, flags: argparse.Namespace, args: argparse.Namespace) -> Any:
    """Two bidirectional GRU layers of ``--hidden-size`` over the classifier's embeddings."""
    g = torch.Generator().manual_seed(flags.seed)
    e, h = input_size, flags.hidden_size
    return StackedLayers(
        [
            Bidirectional(GRUCell(e, h, generator=g), GRUCell(e, h, generator=g)),
            Bidirectional(GRUCell(2 * h, h, generator=g), GRUCell(2 * h, h, generator=g)),
        ],
        dropout=args.two_layers,
        locked=args.locked,
    )


def widen(example: dict[str, Any], size: int) -> None:
    """Make ``sentiment``'s GloVe embedding ``size`` learned dimensions wider."""
    glove_embedding = example["glove_embedding"]

    def widened(*embedding_args: Any, **kwargs: Any) -> torch.nn.Embedding:
        glove = glove_embedding(*embedding_args, **kwargs)
        rows, dim = glove.weight.shape
        extra = 0.1 * torch.randn(rows, size, generator=torch.Generator().manual_seed(0))
        wide = torch.nn.Embedding(rows, dim + size)
        with torch.no_grad():
            wide.weight.copy_(torch.cat((glove.weight.detach(), extra), dim=1))
        wide.weight.requires_grad_(glove.weight.requires_grad)
        return wide

    example["glove_embedding"] = widened


def oversample(example: dict[str, Any], copies: int) -> None:
    """Add ``copies`` more copies of every whole training sentence to ``sentiment``'s data."""
    encode = example["encode"]
    calls = 0

    def encode_more(phrases: Any, tokenizer: Any) -> Any:
        nonlocal calls
        examples, kept = encode(phrases, tokenizer)
        calls += 1
        if calls > 1:  # the training phrases are encoded first
            return examples, kept
        sentences, _ = encode(phrases.sentences(), tokenizer)
        return [*examples, *sentences * copies], kept

    example["encode"] = encode_more


def ensemble(args: argparse.Namespace) -> None:
    """Print each saved model's held-out accuracy and that of their mean probabilities."""
    data_dir = Path(args.data_dir) if args.data_dir is not None else default_data_dir()
    if args.example == "names_classification":
        names = load_names(data_dir)
        split = torch.Generator().manual_seed(args.seed)
        _, held_out = stratified_split(names.labels, 0.2, generator=split)
        sets = {"valid": ([names.texts[i] for i in held_out], [names.labels[i] for i in held_out])}
    else:
        phrases = read_sentiment_file(data_dir / "rotten_tomatoes" / "valid.tsv")
        sentences = phrases.sentences()
        assert phrases.labels is not None and sentences.labels is not None
        sets = {
            "valid": (phrases.texts, phrases.labels),
            "valid_sentence": (sentences.texts, sentences.labels),
        }
    models: list[TextClassifier] = []
    for folder in args.ensemble:
        model = seqlearn.load(folder)
        if not isinstance(model, TextClassifier):
            raise SystemExit(f"{folder} holds a {type(model).__name__}, not a classifier")
        models.append(model)
    for name, (texts, labels) in sets.items():
        truth = torch.tensor(labels)
        probabilities = [model.predict_proba(texts) for model in models]  # each (N, C)
        for folder, p in zip(args.ensemble, probabilities, strict=True):
            print(f"{name} accuracy of {folder}: {accuracy(p, truth):.4f}")
        mean = torch.stack(probabilities).mean(0)
        print(f"{name} accuracy of their mean probabilities: {accuracy(mean, truth):.4f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


def accuracy(probabilities: torch.Tensor, truth: torch.Tensor) -> float:
    """Share of rows whose most probable class is the true one."""
    return (probabilities.argmax(-1) == truth).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("example", choices=EXAMPLES)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--ema", type=float, default=0.0, help="0: no weight averaging")
    parser.add_argument("--ema-start", type=int, default=1)
    parser.add_argument("--weight-drop", type=float, default=0.0)
    parser.add_argument("--word-dropout", type=float, default=None)
    parser.add_argument("--embedding-dropout", type=float, default=None)
    parser.add_argument("--two-layers", type=float, default=None, metavar="DROPOUT")
    parser.add_argument("--locked", action="store_true", help="--two-layers: locked dropout")
    parser.add_argument("--pooling", choices=[*POOLINGS, "attention"], default=None)
    parser.add_argument("--widen-embedding", type=int, default=0, metavar="N")
    parser.add_argument("--oversample-sentences", type=int, default=0, metavar="K")
    parser.add_argument("--model-seed", type=int, default=None, metavar="S")
    parser.add_argument("--ensemble", nargs="+", default=None, metavar="DIR")
    parser.add_argument("--data-dir", default=os.environ.get("SEQLEARN_DATA"))
    parser.add_argument("--seed", type=int, default=0, help="--ensemble: the names' split")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.flags = argv[split + 1 :]  # the example's own flags, after --
    if args.label_smoothing and args.example == "names_classification":
        parser.error("names_classification takes its own --label-smoothing, after --")
    sentiment_only = args.widen_embedding or args.oversample_sentences
    if sentiment_only and args.example != "sentiment":
        parser.error("--widen-embedding and --oversample-sentences change sentiment only")
    if args.ensemble is not None:
        if args.example == "names_generation":
            parser.error("--ensemble scores the classifiers only")
        ensemble(args)
        return
    loaded = runpy.run_path(str(ROOT / "examples" / f"{args.example}.py"))
    example: dict[str, Any] = loaded["main"].__globals__  # the globals main reads (not a copy)
    change(example, args)
    if args.ema:
        score_the_average(WeightAverage(args.ema, args.ema_start))
    start = time.perf_counter()
    metrics = example["main"](args.flags)
    final = {
        key: round(value[-1], 4)
        for key, value in metrics.items()
        if key.startswith("valid") and isinstance(value, list)
    }
    print(
        f"{' '.join(argv)}: {final}; "
        f"train_seconds {metrics['train_seconds']:.1f}; wall {time.perf_counter() - start:.1f} s; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
