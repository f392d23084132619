"""Both learning-rate finders on the names data, with the lecture's model and plain SGD.

Produces the figures and printed results of the "Choosing a learning rate" section of
docs/training.rst:

1. :func:`~seqlearn.train.find_divergent_lr` over a half-decade grid of rates (one full
   epoch per rate from the same initial weights, stopping at the first divergent rate),
   then two geometric bisection steps; plot ``lr_finders_names_divergent.png``.
2. :func:`~seqlearn.train.lr_range_test` over one epoch of steps, the rate growing from
   1e-4 to 1e3; plot ``lr_finders_names_range_test.png``.
3. Unless ``--train-epochs 0``: five epochs of SGD at the lecture's rate translated to a
   per-token mean loss, and five at a quarter of the divergent rate with gradient clipping
   (the lecture's exercise), each scored on held-out names after every epoch.

The model is :func:`seqlearn.nn.lecture_generator` (one-hot language and letter, Elman cell
with ReLU, 128 units), the batches are 64 names of the stratified 80% training split
(``--seed`` draws the split, the weights and the batch order), and the loss is
:data:`seqlearn.train.next_token_loss`, the mean NLL per predicted character.

Usage (about 40 s on 2 idle CPU cores; needs matplotlib, the ``plot`` extra)::

    python docs/scripts/lr_finders_names.py --data-dir /path/to/data

where ``/path/to/data`` holds ``names/`` (or set ``SEQLEARN_DATA``). The images go to
``docs/images/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import seqlearn
from seqlearn.data import NextTokenBatch, NextTokenCollator, load_names, stratified_split
from seqlearn.nn import lecture_generator
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import Trainer, find_divergent_lr, lr_range_test, next_token_loss

IMAGES = Path(__file__).resolve().parents[1] / "images"
LECTURE_LR = 0.0005  # per name, on the loss summed over the name's characters
BATCH_SIZE = 64
GRID = [10 ** (k / 2) for k in range(-4, 4)]  # 0.01, 0.0316, ..., 10, 31.6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder for the two PNGs")
    parser.add_argument("--seed", type=int, default=0, help="split, weights and batch order")
    parser.add_argument(
        "--train-epochs", type=int, default=5, help="epochs of each check run (0: none)"
    )
    return parser.parse_args()


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{datetime.date.today().isoformat()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), seqlearn {seqlearn.__version__}"
    )


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    print(machine())
    names = load_names(args.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(args.seed)
    train_idx, valid_idx = stratified_split(names.labels, 0.2, generator=split)

    def encode(indices: list[int]) -> list[tuple[list[int], int]]:
        pairs = [(tokenizer.encode(names[i][0]), names[i][1]) for i in indices]
        return [(ids, label) for ids, label in pairs if ids]

    train, valid = encode(train_idx), encode(valid_idx)
    collate = NextTokenCollator(eos_id=tokenizer.eos_id)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))
    batches: list[NextTokenBatch] = [
        collate([train[i] for i in order[start : start + BATCH_SIZE].tolist()])
        for start in range(0, len(train), BATCH_SIZE)
    ]
    characters = sum(len(ids) for ids, _ in train)  # predicted per name: its letters - 1 + EOS
    per_name = characters / len(train)
    translated = LECTURE_LR * BATCH_SIZE * per_name
    print(
        f"data: {len(train)} training names (the whole 80% split), {len(batches)} batches of "
        f"{BATCH_SIZE}, {characters} predicted characters ({per_name:.2f} per name)"
    )
    print(
        f"the lecture's rate {LECTURE_LR} per name on a summed loss ~ {LECTURE_LR} * "
        f"{BATCH_SIZE} * {per_name:.2f} = {translated:.3f} per batch on a per-character mean"
    )
    model = lecture_generator(generator=torch.Generator().manual_seed(args.seed))

    start = time.perf_counter()
    found = find_divergent_lr(
        model, next_token_loss, batches, lrs=GRID, stop_early=True, refine_steps=2
    )
    print(
        f"\nfind_divergent_lr: plain SGD, one epoch per rate from the same initial weights; "
        f"loss at the initial weights {found.start_loss:.4f} ({time.perf_counter() - start:.0f} s)"
    )
    print("  learning rate   loss after the epoch   diverged")
    for lr, loss in found.losses.items():
        print(f"  {lr:13.4g}   {loss:20.4f}   {'yes' if found.diverged[lr] else 'no'}")
    assert found.divergent_lr is not None and found.suggested_lr is not None
    print(
        f"  divergent rate {found.divergent_lr:.4g}, suggested (a quarter) {found.suggested_lr:.4g}"
    )
    found.plot(args.out / "lr_finders_names_divergent.png")

    start = time.perf_counter()
    ranged = lr_range_test(
        model, next_token_loss, batches, start_lr=1e-4, end_lr=1e3, num_steps=len(batches)
    )
    lowest = min(ranged.smoothed_losses)
    print(
        f"\nlr_range_test: plain SGD, rate 1e-4 -> 1e3 over up to {len(batches)} steps "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(
        f"  {len(ranged.lrs)} steps, diverged: {ranged.diverged} (last rate {ranged.lrs[-1]:.4g})"
    )
    print(f"  lowest smoothed loss {lowest:.4f} at rate {ranged.min_loss_lr:.4g}")
    print(f"  steepest descent (suggested) at rate {ranged.suggested_lr:.4g}")
    ranged.plot(args.out / "lr_finders_names_range_test.png")

    if args.train_epochs > 0:
        train_batches = DataLoader(train, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate)
        valid_batches = DataLoader(valid, batch_size=512, collate_fn=collate)
        runs = [
            ("the lecture's rate, translated", translated, None),
            ("a quarter of the divergent rate", found.suggested_lr, 1.0),
        ]
        for label, lr, clip in runs:
            trial = lecture_generator(generator=torch.Generator().manual_seed(args.seed))
            sgd = torch.optim.SGD(trial.parameters(), lr=lr)
            trainer = Trainer(
                trial, sgd, next_token_loss, clip_grad_norm=clip, progress=False, seed=args.seed
            )
            history = trainer.fit(
                train_batches, epochs=args.train_epochs, valid_batches=valid_batches
            )
            clipped = "" if clip is None else f", clip_grad_norm={clip}"
            print(f"\n{args.train_epochs} epochs of SGD at {lr:.4g} ({label}{clipped}):")
            for record in history.records:
                print(
                    f"  epoch {record.epoch}: train loss {record.train_loss:.4f}, "
                    f"valid loss {record.valid_loss:.4f}"
                )
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
