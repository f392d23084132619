"""The lecture's surname generator against seqlearn's default, side by side in one run.

The lecture trains one example at a time in a Python loop: a random language, then a random
name of it, a per-step Elman RNN over one-hot vectors, the loss summed over the name's
characters, one plain SGD step at lr 0.0005, 20,074 examples an epoch (the lecture's
"Train" cell and ``train_one_example``, re-implemented plainly here). seqlearn's default is
``examples/names_generation.py`` with its default flags: a batched GRU over padded,
length-bucketed batches on torch's fused kernel, trained with Adam.

Both train on the same stratified 80% split and are scored on the same held-out 20% with
the same figure: given the language and a name's first letter, the mean negative
log-likelihood (nats) of the 2nd to last letters and EOS. The script prints each epoch's
training seconds and held-out NLL, then the ratios.

Both run in this process on ``--threads`` torch threads (2 by default).
``--lecture-one-thread`` also times the lecture's first epoch on 1 thread (the same
weights and draws), printed for information only. ``--quick`` is a smoke run: 300
examples and 1 epoch of the lecture's loop (its NLL on 300 held-out names), 1 epoch of
the example; its figures mean nothing.

Run: ``python benchmarks/names_generation.py [--lecture-epochs 5] [--data-dir DIR]
[--threads 2] [--lecture-one-thread] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import runpy
import string
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqlearn.data import load_names, stratified_split
from seqlearn.tokenize import CharTokenizer

LETTERS = string.ascii_letters + " .,;'-"
EOS = len(LETTERS)
ROOT = Path(__file__).resolve().parents[1]
QUICK_EXAMPLES = 300  # --quick: lecture examples an epoch, and held-out names scored


class LectureRNN(nn.Module):
    """The lecture's ``RNN`` class: i2h and i2o over [category; letter; hidden]."""

    def __init__(self, num_categories: int, hidden_size: int = 128) -> None:
        super().__init__()
        size = num_categories + EOS + 1 + hidden_size
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(size, hidden_size)
        self.i2o = nn.Linear(size, EOS + 1)

    def forward(self, category: Tensor, letter: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        combined = torch.cat((category, letter, hidden), dim=1)
        return self.i2o(combined), torch.relu(self.i2h(combined))


def one_hot_name(ids: list[int]) -> Tensor:
    """``(T, 1, V)`` one-hot letters, like the lecture's ``input_to_onehot``."""
    return nn.functional.one_hot(torch.tensor(ids), EOS + 1).float().unsqueeze(1)


def lecture_epoch(
    model: LectureRNN,
    by_category: list[list[list[int]]],
    examples: int,
    generator: torch.Generator,
    lr: float = 0.0005,
) -> float:
    """One lecture epoch: ``examples`` single-example SGD steps; returns the mean loss."""
    mean = 0.0
    for step in range(examples):
        category = int(torch.randint(len(by_category), (1,), generator=generator))
        pool = by_category[category]
        ids = pool[int(torch.randint(len(pool), (1,), generator=generator))]
        letters, targets = one_hot_name(ids), torch.tensor([*ids[1:], EOS])
        category_vector = nn.functional.one_hot(torch.tensor([category]), len(by_category))
        hidden, loss = torch.zeros(1, model.hidden_size), torch.zeros(())
        for t in range(len(ids)):
            output, hidden = model(category_vector.float(), letters[t], hidden)
            loss = loss + nn.functional.cross_entropy(output, targets[t : t + 1])
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for parameter, grad in zip(model.parameters(), grads):
                parameter -= lr * grad
        mean += (float(loss.detach()) / len(ids) - mean) / (step + 1)
    return mean


@torch.inference_mode()
def lecture_nll(model: LectureRNN, examples: list[tuple[list[int], int]], categories: int) -> float:
    """Held-out NLL per predicted character, one name at a time as the lecture would."""
    total, count = 0.0, 0
    for ids, category in examples:
        letters, targets = one_hot_name(ids), torch.tensor([*ids[1:], EOS])
        category_vector = nn.functional.one_hot(torch.tensor([category]), categories).float()
        hidden = torch.zeros(1, model.hidden_size)
        for t in range(len(ids)):
            output, hidden = model(category_vector, letters[t], hidden)
            total += float(nn.functional.cross_entropy(output, targets[t : t + 1]))
            count += 1
    return total / count


def run_lecture(args: argparse.Namespace) -> list[tuple[float, float]]:
    """Train the lecture's model; returns (seconds, held-out NLL) per epoch."""
    names = load_names(args.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(args.seed)
    train_idx, valid_idx = stratified_split(names.labels, 0.2, generator=split)
    encoded = [(tokenizer.encode(text), label) for text, label in names]
    by_category: list[list[list[int]]] = [[] for _ in names.categories]
    for index in train_idx:
        ids, label = encoded[index]
        if ids:
            by_category[label].append(ids)
    valid = [encoded[i] for i in valid_idx if encoded[i][0]]
    examples = len(names)  # the lecture's epoch: as many random draws as there are names
    if args.quick:
        examples, valid = QUICK_EXAMPLES, valid[:QUICK_EXAMPLES]
    torch.manual_seed(args.seed)
    model = LectureRNN(len(names.categories))
    if args.lecture_one_thread:
        one_thread_epoch(args, model, by_category, examples)
    return _lecture_epochs(args, model, by_category, valid, examples, len(names.categories))


def one_thread_epoch(
    args: argparse.Namespace,
    model: LectureRNN,
    by_category: list[list[list[int]]],
    examples: int,
) -> float:
    """The lecture's first epoch on 1 thread, on a copy of ``model``: for information."""
    copy = LectureRNN(len(by_category), model.hidden_size)
    copy.load_state_dict(model.state_dict())
    generator = torch.Generator().manual_seed(args.seed)  # the draws of the timed epoch 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        lecture_epoch(copy, by_category, examples, generator)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    print(
        f"lecture  epoch 1 on 1 thread (for information, not compared): {seconds:6.1f} s",
        flush=True,
    )
    return seconds


def _lecture_epochs(
    args: argparse.Namespace,
    model: LectureRNN,
    by_category: list[list[list[int]]],
    valid: list[tuple[list[int], int]],
    examples: int,
    categories: int,
) -> list[tuple[float, float]]:
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    for epoch in range(args.lecture_epochs):
        start = time.perf_counter()
        loss = lecture_epoch(model, by_category, examples, generator)
        seconds = time.perf_counter() - start
        nll = lecture_nll(model, valid, categories)
        rows.append((seconds, nll))
        print(
            f"lecture  epoch {epoch + 1}: train loss {loss:.3f}, {seconds:6.1f} s, "
            f"held-out NLL {nll:.4f}",
            flush=True,
        )
    return rows


def run_seqlearn(args: argparse.Namespace) -> list[tuple[float, float]]:
    """Train seqlearn's default example; returns (seconds, held-out NLL) per epoch."""
    example: dict[str, Any] = runpy.run_path(str(ROOT / "examples" / "names_generation.py"))
    flags = ["--seed", str(args.seed), "--no-progress", "--out", str(args.out)]
    if args.data_dir is not None:
        flags += ["--data-dir", str(args.data_dir)]
    if args.quick:
        flags += ["--epochs", "1"]
    metrics = example["main"](flags)
    rows = list(zip(metrics["epoch_seconds"], metrics["valid_nll"]))
    return rows


def first_time_below(rows: list[tuple[float, float]], target: float) -> float | None:
    """Cumulative training seconds when held-out NLL first reaches ``target``."""
    elapsed = 0.0
    for seconds, nll in rows:
        elapsed += seconds
        if nll <= target:
            return elapsed
    return None


def main() -> None:
    """Run both and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--lecture-epochs", type=int, default=5, help="lecture epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed for both runs")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/bench_names"), help="seqlearn example output"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads of both runs, the lecture's loop and the example (0: torch's)",
    )
    parser.add_argument(
        "--lecture-one-thread",
        action="store_true",
        help="also time the lecture's first epoch on 1 thread, for information only",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_EXAMPLES} lecture examples, 1 epoch a side; meaningless figures",
    )
    args = parser.parse_args()
    if args.threads < 0:
        parser.error(f"--threads must be 0 or more, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.lecture_epochs = 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads for both the lecture's "
        f"loop and seqlearn's example; load average at the start: {load_average()}"
        + ("  [--quick: a smoke run, the figures mean nothing]" if args.quick else "")
    )
    lecture = run_lecture(args)
    ours = run_seqlearn(args)
    lecture_final = lecture[-1][1]
    lecture_seconds = sum(seconds for seconds, _ in lecture)
    lecture_epoch_seconds = lecture_seconds / len(lecture)
    ours_epoch_seconds = sum(seconds for seconds, _ in ours) / len(ours)
    reach = first_time_below(ours, lecture_final)
    print("\n                         lecture loop    seqlearn default")
    print(f"seconds per epoch        {lecture_epoch_seconds:12.1f}    {ours_epoch_seconds:16.1f}")
    print(f"final held-out NLL       {lecture_final:12.4f}    {ours[-1][1]:16.4f}")
    print(f"training seconds         {lecture_seconds:12.1f}    {sum(s for s, _ in ours):16.1f}")
    if reach is not None:
        print(
            f"seqlearn reaches the lecture's final NLL after {reach:.1f} s of training: "
            f"{lecture_seconds / reach:.1f}x sooner"
        )
    ratio = lecture_epoch_seconds / ours_epoch_seconds
    print(f"epoch speed ratio (lecture / seqlearn): {ratio:.1f}x")
    print(f"load average at the end: {load_average()}")


def load_average() -> str:
    """The 1-minute load average, or "unknown" where the system does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


if __name__ == "__main__":
    main()
