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
- ``--two-layers P``: the classifier's encoder becomes two bidirectional GRU layers with
  dropout ``P`` between them (``names_classification`` only).

It prints one line: the example's final validation figures, its training seconds and the
load average. Time only on an otherwise idle machine, one run at a time::

    python benchmarks/ablations.py names_classification --label-smoothing 0.1 -- --no-progress
"""

from __future__ import annotations

import argparse
import functools
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import torch

from seqlearn.nn import (
    Bidirectional,
    GRUCell,
    SequenceClassifier,
    StackedLayers,
    WeightDrop,
    max_pool,
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

    Trainer.validate = validate_average  # type: ignore[method-assign]
    Trainer.__init__ = init_with_average  # type: ignore[method-assign]


def change(example: dict[str, Any], args: argparse.Namespace) -> None:
    """Apply the ablation's changes to the example's namespace."""
    if args.label_smoothing:
        smoothing = args.label_smoothing
        example["classification_loss"] = functools.partial(
            classification_loss, label_smoothing=smoothing
        )
    if args.weight_drop:
        plain = example["GRUCell"]

        def dropped(*cell_args: Any, **kwargs: Any) -> WeightDrop:
            cell = plain(*cell_args, **kwargs)
            return WeightDrop(cell, args.weight_drop, generator=kwargs.get("generator"))

        example["GRUCell"] = dropped
    build = example["build_model"]

    def build_changed(flags: argparse.Namespace, *more: Any) -> Any:
        if args.two_layers is not None:
            model = two_layers(flags, *more, dropout=args.two_layers)
        else:
            model = build(flags, *more)
        if args.word_dropout is not None:
            model.word_dropout = args.word_dropout
        if args.embedding_dropout is not None:
            model.embedding_dropout = args.embedding_dropout
        return model

    example["build_model"] = build_changed


def two_layers(
    flags: argparse.Namespace, vocab_size: int, num_classes: int, *, dropout: float
) -> SequenceClassifier:
    """``names_classification``'s model with two bidirectional GRU layers."""
    g = torch.Generator().manual_seed(flags.seed)
    e, h = flags.embedding_dim, flags.hidden_size
    encoder = StackedLayers(
        [
            Bidirectional(GRUCell(e, h, generator=g), GRUCell(e, h, generator=g)),
            Bidirectional(GRUCell(2 * h, h, generator=g), GRUCell(2 * h, h, generator=g)),
        ],
        dropout=dropout,
    )
    return SequenceClassifier(
        encoder,
        vocab_size=vocab_size,
        num_classes=num_classes,
        embedding_dim=e,
        pooling=max_pool,
        dropout=flags.dropout,
        generator=g,
    )


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
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.flags = argv[split + 1 :]  # the example's own flags, after --
    if args.label_smoothing and args.example == "names_classification":
        parser.error("names_classification takes its own --label-smoothing, after --")
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
