"""Training speed of seqlearn's cells beside torch.nn, and of the lecture's model batched.

Part 1, cells. For each cell, seqlearn's ``Recurrent`` and the nearest torch.nn equivalent
each take a forward pass and a backward pass of the summed outputs (no optimiser) over the
same padded, length-sorted batches of real names: 64 names a batch, inputs the one-hot
language beside the one-hot letter (18 + 59 = 77 features), hidden size 128. Elman, GRU,
LSTM and a 2-layer GRU stack run on torch's fused kernels in seqlearn and are compared to
``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` over ``pack_padded_sequence`` with the same weights.
LayerNormLSTM and IndRNN run seqlearn's per-step loop and have no torch.nn equivalent: the
reference is a plain Python loop over ``nn.LSTMCell`` (no layer norm, so it does less work)
and over a hand-written IndRNN step (same weights). A row "LSTM, fused=False" puts
seqlearn's per-step loop beside the same ``nn.LSTMCell`` loop, like for like.

Part 2, the lecture's model. seqlearn trains ``lecture_generator()`` on padded batches of
64 names of similar length (``LengthBucketSampler``, as the examples batch them) with
``next_token_loss`` and SGD; the lecture trains the same model one name at a
time (its loop re-implemented plainly, as in ``benchmarks/names_generation.py``). Seconds
per character of each are scaled to one epoch's characters (all 20,074 names once). Both
run on ``--threads`` threads; ``--lecture-one-thread`` also times the lecture's loop on 1
thread (interleaved with the others), a row for information only.

Both sides of every comparison are timed in one run, alternately (A B A B ...), and the
script prints medians and the median of the paired ratios: with other processes on the
machine, absolute seconds mean little, the ratio of neighbours more.

Run: ``python benchmarks/cells.py [--data-dir DIR] [--repeats 7] [--quick] [--threads 2]
[--lecture-one-thread]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlearn.data import LengthBucketSampler, load_names
from seqlearn.data.batching import collate_next_token
from seqlearn.nn import (
    ElmanCell,
    GRUCell,
    IndRNNCell,
    LayerNormLSTMCell,
    LSTMCell,
    Recurrent,
    StackedCell,
    lecture_generator,
)
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import next_token_loss

LETTERS = string.ascii_letters + " .,;'-"
EOS = len(LETTERS)
VOCAB, CATEGORIES, HIDDEN, BATCH = EOS + 1, 18, 128, 64
FEATURES = CATEGORIES + VOCAB

Batch = tuple[Tensor, Tensor]  # x (B, T, 77) one-hot, lengths (B,) sorted descending
Step = Callable[[Batch], None]


# ---------------------------------------------------------------------------- data


def encoded_names(data_dir: Path | None) -> list[tuple[list[int], int]]:
    """Every name with at least one known letter, as ``(ids, language)``."""
    names = load_names(data_dir)
    tokenizer = CharTokenizer(oov="drop")
    encoded = [(tokenizer.encode(text), label) for text, label in names]
    return [(ids, label) for ids, label in encoded if ids]


def cell_batches(names: list[tuple[list[int], int]], count: int, seed: int) -> list[Batch]:
    """``count`` batches of 64 random names, each sorted by length, one-hot ``[c; x]``."""
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
    batches = []
    for start in range(0, count * BATCH, BATCH):
        chunk = sorted((names[i] for i in order[start : start + BATCH]), key=lambda e: -len(e[0]))
        lengths = torch.tensor([len(ids) for ids, _ in chunk])
        x = torch.zeros(BATCH, int(lengths[0]), FEATURES)  # (B, T, C+V)
        for row, (ids, label) in enumerate(chunk):
            x[row, : len(ids), label] = 1.0
            x[row, torch.arange(len(ids)), CATEGORIES + torch.tensor(ids)] = 1.0
        batches.append((x, lengths))
    return batches


# ---------------------------------------------------------------------------- references


def torch_rnn_like(cell: Any, layers: int = 1) -> nn.RNNBase:
    """``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` holding copies of a fused cell's weights."""
    units = cell.layers if isinstance(cell, StackedCell) else [cell]
    mode = units[0].fused_mode
    kinds: dict[str, Callable[[], nn.RNNBase]] = {
        "RNN_TANH": lambda: nn.RNN(FEATURES, HIDDEN, layers, nonlinearity="tanh"),
        "RNN_RELU": lambda: nn.RNN(FEATURES, HIDDEN, layers, nonlinearity="relu"),
        "GRU": lambda: nn.GRU(FEATURES, HIDDEN, layers),
        "LSTM": lambda: nn.LSTM(FEATURES, HIDDEN, layers),
    }
    rnn = kinds[mode]()
    with torch.no_grad():
        for depth, unit in enumerate(units):
            names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
            for name, weight in zip(names, unit.fused_weights()):
                getattr(rnn, f"{name}_l{depth}").copy_(weight)
    return rnn


def packed_loss(rnn: nn.RNNBase, batch: Batch) -> Tensor:
    """torch.nn's way: pack the sorted batch, run the module, unpack, sum the outputs."""
    x, lengths = batch
    packed = pack_padded_sequence(x, lengths, batch_first=True)
    out, _ = rnn(packed)
    padded, _ = pad_packed_sequence(out, batch_first=True)  # (B, T, H)
    return padded.sum()


def loop_loss(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]], state: Any, batch: Batch
) -> Tensor:
    """A plain per-step loop over a length-sorted batch: step only the rows still running."""
    x, lengths = batch
    total = x.new_zeros(())
    for t in range(x.size(1)):
        n = int((lengths > t).sum())  # rows are sorted, so the first n are running
        y, new = step(x[:n, t], tuple(s[:n] for s in state))
        state = tuple(torch.cat((a, s[n:])) for a, s in zip(new, state))
        total = total + y.sum()
    return total


class HandIndRNN(nn.Module):
    """The IndRNN step written out: ``h = relu(W x + b + u * h)``, weights copied."""

    def __init__(self, cell: IndRNNCell) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(cell.weight_ih.detach().clone())
        self.weight_hh = nn.Parameter(cell.weight_hh.detach().clone())
        assert cell.bias is not None
        self.bias = nn.Parameter(cell.bias.detach().clone())

    def forward(self, x: Tensor, state: tuple[Tensor]) -> tuple[Tensor, tuple[Tensor]]:
        h = torch.relu(
            nn.functional.linear(x, self.weight_ih, self.bias) + self.weight_hh * state[0]
        )
        return h, (h,)


def lstm_cell_step(cell: nn.LSTMCell) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
    def step(x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = cell(x, state)
        return h, (h, c)

    return step


def zeros(count: int) -> tuple[Tensor, ...]:
    return tuple(torch.zeros(BATCH, HIDDEN) for _ in range(count))


# ---------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One row: seqlearn's step and the reference's step, forward + backward on a batch."""

    name: str
    layer: Recurrent[Any]
    reference: str
    ours: Callable[[Batch], Tensor]
    theirs: Callable[[Batch], Tensor]
    same_numbers: bool  # whether both compute the same function (checked once)


def cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    rows = []

    def ours_of(layer: Recurrent[Any]) -> Callable[[Batch], Tensor]:
        return lambda batch: layer(*batch)[0].sum()

    for name, cell in [
        ("Elman tanh", ElmanCell(FEATURES, HIDDEN, nonlinearity="tanh", generator=g)),
        ("Elman relu", ElmanCell(FEATURES, HIDDEN, nonlinearity="relu", generator=g)),
        ("GRU", GRUCell(FEATURES, HIDDEN, generator=g)),
        ("LSTM", LSTMCell(FEATURES, HIDDEN, generator=g)),
        (
            "GRU x2 stack",
            StackedCell(
                [GRUCell(FEATURES, HIDDEN, generator=g), GRUCell(HIDDEN, HIDDEN, generator=g)]
            ),
        ),
    ]:
        layer = Recurrent(cell)
        rnn = torch_rnn_like(cell, 2 if isinstance(cell, StackedCell) else 1)
        reference = (
            f"nn.{type(rnn).__name__}{'(num_layers=2)' if rnn.num_layers > 1 else ''}, packed"
        )
        rows.append(Case(name, layer, reference, ours_of(layer), _bind(packed_loss, rnn), True))

    lstm = LSTMCell(FEATURES, HIDDEN, generator=g)
    torch_cell = nn.LSTMCell(FEATURES, HIDDEN)
    with torch.no_grad():
        for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
            getattr(torch_cell, name).copy_(getattr(lstm, name))
    loop_lstm = lstm_cell_step(torch_cell)
    layer = Recurrent(lstm, fused=False)
    rows.append(
        Case(
            "LSTM, fused=False",
            layer,
            "loop over nn.LSTMCell",
            ours_of(layer),
            lambda batch: loop_loss(loop_lstm, zeros(2), batch),
            True,
        )
    )
    layer = Recurrent(LayerNormLSTMCell(FEATURES, HIDDEN, generator=g))
    rows.append(
        Case(
            "LayerNormLSTM",
            layer,
            "loop over nn.LSTMCell (no LN)",
            ours_of(layer),
            lambda batch: loop_loss(loop_lstm, zeros(2), batch),
            False,
        )
    )
    indrnn = IndRNNCell(FEATURES, HIDDEN, generator=g)
    hand = HandIndRNN(indrnn)
    layer = Recurrent(indrnn)
    rows.append(
        Case(
            "IndRNN",
            layer,
            "loop over a hand-written step",
            ours_of(layer),
            lambda batch: loop_loss(hand, zeros(1), batch),
            True,
        )
    )
    return rows


def _bind(
    loss: Callable[[nn.RNNBase, Batch], Tensor], rnn: nn.RNNBase
) -> Callable[[Batch], Tensor]:
    return lambda batch: loss(rnn, batch)


def train_pass(loss: Callable[[Batch], Tensor], batches: list[Batch]) -> float:
    """Seconds for forward + backward of ``loss`` over every batch (gradients dropped)."""
    start = time.perf_counter()
    for batch in batches:
        loss(batch).backward()
    return time.perf_counter() - start


def interleaved(
    a: Callable[[], float], b: Callable[[], float], repeats: int
) -> tuple[list[float], list[float]]:
    """Run ``a`` and ``b`` alternately ``repeats`` times each (after one warm-up each)."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(a())
        times_b.append(b())
    return times_a, times_b


def bench_cells(names: list[tuple[list[int], int]], args: argparse.Namespace) -> None:
    batches = cell_batches(names, args.batches, args.seed)
    chars = int(sum(int(lengths.sum()) for _, lengths in batches))
    print(
        f"\nCells: forward + backward of the summed outputs over {len(batches)} batches of "
        f"{BATCH} names ({chars} characters), {FEATURES} one-hot features, hidden {HIDDEN}; "
        f"{args.repeats} interleaved repeats per side, medians."
    )
    header = (
        f"{'cell':<18} {'path':<9} {'seqlearn chars/s':>16} {'reference chars/s':>17} "
        f"{'time ratio':>10}  reference"
    )
    print(header)
    print("-" * len(header))
    for case in cases():
        if case.same_numbers:
            with torch.no_grad():
                a, b = float(case.ours(batches[0])), float(case.theirs(batches[0]))
            assert abs(a - b) <= 1e-3 * max(1.0, abs(b)), f"{case.name}: {a} != {b}"
        ours, theirs = interleaved(
            functools.partial(train_pass, case.ours, batches),
            functools.partial(train_pass, case.theirs, batches),
            args.repeats,
        )
        ratio = statistics.median(o / t for o, t in zip(ours, theirs))
        path = "fused" if case.layer.uses_fused_kernels else "per-step"
        print(
            f"{case.name:<18} {path:<9} {chars / statistics.median(ours):16,.0f} "
            f"{chars / statistics.median(theirs):17,.0f} {ratio:9.2f}x  {case.reference}",
            flush=True,
        )
    print(
        "time ratio: seqlearn's time / the reference's time, "
        "median of the paired repeats (below 1 = seqlearn faster)"
    )


# ---------------------------------------------------------------------------- the lecture's model


class LectureRNN(nn.Module):
    """The lecture's ``RNN`` class: i2h and i2o over [category; letter; hidden]."""

    def __init__(self, hidden_size: int = HIDDEN) -> None:
        super().__init__()
        size = CATEGORIES + VOCAB + hidden_size
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(size, hidden_size)
        self.i2o = nn.Linear(size, VOCAB)

    def forward(self, category: Tensor, letter: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        combined = torch.cat((category, letter, hidden), dim=1)
        return self.i2o(combined), torch.relu(self.i2h(combined))


def lecture_steps(
    model: LectureRNN, examples: list[tuple[list[int], int]], lr: float = 0.0005
) -> None:
    """The lecture's ``train_one_example`` for each example: summed loss, plain SGD."""
    for ids, category in examples:
        letters = nn.functional.one_hot(torch.tensor(ids), VOCAB).float().unsqueeze(1)  # (T, 1, V)
        targets = torch.tensor([*ids[1:], EOS])
        category_vector = nn.functional.one_hot(torch.tensor([category]), CATEGORIES).float()
        hidden, loss = torch.zeros(1, model.hidden_size), torch.zeros(())
        for t in range(len(ids)):
            output, hidden = model(category_vector, letters[t], hidden)
            loss = loss + nn.functional.cross_entropy(output, targets[t : t + 1])
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for parameter, grad in zip(model.parameters(), grads):
                parameter -= lr * grad


def bench_lecture(names: list[tuple[list[int], int]], args: argparse.Namespace) -> None:
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(args.seed)).tolist()
    shuffled = [names[i] for i in order]
    epoch_chars = sum(len(ids) for ids, _ in names)
    # seqlearn: one epoch in batches of 64 names of similar length, as the example makes
    # them (LengthBucketSampler), cut into `repeats` chunks of batches.
    sampler = LengthBucketSampler(
        [len(ids) for ids, _ in names], BATCH, generator=torch.Generator().manual_seed(args.seed)
    )
    batches = [collate_next_token([names[i] for i in batch], eos_id=EOS) for batch in sampler]
    chunks = [batches[r :: args.repeats] for r in range(args.repeats)]
    model = lecture_generator(generator=torch.Generator().manual_seed(args.seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0005)

    def batched(chunk: list[Any]) -> tuple[float, int]:
        start = time.perf_counter()
        for batch in chunk:
            loss = next_token_loss(model, batch)
            optimizer.zero_grad()
            (loss.total / loss.num_items).backward()
            optimizer.step()
        return time.perf_counter() - start, int(sum(int(b.lengths.sum()) for b in chunk))

    # the lecture: `lecture_names` names, one at a time, in `repeats` chunks.
    torch.manual_seed(args.seed)
    lecture = LectureRNN()
    per = max(1, args.lecture_names // args.repeats)
    lecture_chunks = [shuffled[r * per : (r + 1) * per] for r in range(args.repeats)]

    def looped(chunk: list[tuple[list[int], int]], threads: int) -> tuple[float, int]:
        torch.set_num_threads(threads)
        try:
            start = time.perf_counter()
            lecture_steps(lecture, chunk)
            return time.perf_counter() - start, sum(len(ids) for ids, _ in chunk)
        finally:
            torch.set_num_threads(args.threads)

    batched(batches[:4]), looped(shuffled[-20:], args.threads)  # warm-up
    ours, theirs, one_thread = [], [], []
    for r in range(args.repeats):
        seconds, chars = looped(lecture_chunks[r], args.threads)
        theirs.append(seconds / chars)
        seconds, chars = batched(chunks[r])
        ours.append(seconds / chars)
        if args.lecture_one_thread:  # the same names again, on 1 thread (the model moves on)
            seconds, chars = looped(lecture_chunks[r], 1)
            one_thread.append(seconds / chars)
    ratio = statistics.median(t / o for o, t in zip(ours, theirs))
    lecture_epoch = statistics.median(theirs) * epoch_chars
    ours_epoch = statistics.median(ours) * epoch_chars
    print(
        f"\nThe lecture's model (Elman ReLU, one-hot, i2o over the previous hidden state), SGD: "
        f"seqlearn batched ({BATCH} names of similar length a batch, next_token_loss, "
        f"one whole epoch over "
        f"{args.repeats} chunks) against the lecture's per-example loop "
        f"({per * args.repeats} names over {args.repeats} chunks), both on {args.threads} "
        f"threads, interleaved; seconds per character scaled to one epoch ({len(names)} names, "
        f"{epoch_chars} characters)."
    )
    print(f"{'':<30} {'lecture loop':>12} {'seqlearn batched':>16}")
    print(
        f"{'characters per second':<30} {1 / statistics.median(theirs):12,.0f} "
        f"{1 / statistics.median(ours):16,.0f}"
    )
    print(f"{'seconds per epoch':<30} {lecture_epoch:12.2f} {ours_epoch:16.2f}")
    print(f"epoch speed ratio (lecture / seqlearn), median of the paired repeats: {ratio:.1f}x")
    if one_thread:
        print(
            "lecture loop on 1 thread (for information, not compared): "
            f"{1 / statistics.median(one_thread):,.0f} characters per second, "
            f"{statistics.median(one_thread) * epoch_chars:.2f} s per epoch"
        )


def main() -> None:
    """Parse the flags and print both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed repeats per side [7; 3 with --quick]"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer batches and names, for a smoke run"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the batches and weights")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads of every side, the lecture's loop included [2]",
    )
    parser.add_argument(
        "--lecture-one-thread",
        action="store_true",
        help="also time the lecture's loop on 1 thread, printed for information only",
    )
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    args.batches = 4 if args.quick else 16
    args.lecture_names = 300 if args.quick else 2000
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.repeats} repeats per side; load average at the start: {load_average()}"
        + ("  [--quick: a smoke run, the figures mean nothing]" if args.quick else "")
    )
    names = encoded_names(args.data_dir)
    bench_cells(names, args)
    bench_lecture(names, args)
    print(f"load average at the end: {load_average()}")


def load_average() -> str:
    """The 1-minute load average, or "unknown" where the system does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


if __name__ == "__main__":
    main()
