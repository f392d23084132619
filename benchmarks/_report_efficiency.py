"""The performance report's efficiency figure: training FLOP/s against the matmul rate.

The floating-point operations of training the names generator are counted analytically,
per character: the matrix products of the forward pass, ``2 * rows * columns`` for each
weight matrix of the recurrent cell (every layer's input and recurrent matrices: ``3H x I``
and ``3H x H`` for a GRU, ``4H x I`` and ``4H x H`` for an LSTM) and of the output layer
(``V x H``); the letter embedding is a lookup and the gates' elementwise work is left out.
Times 3 for forward and backward (the backward pass takes two products of each forward
one, for the weights' and for the inputs' gradients). :func:`counted_flops` checks the
count with ``torch.utils.flop_counter.FlopCounterMode`` on one real training step. The
rate the hardware can reach is measured with ``torch.mm`` on large square matrices.

Imported by ``benchmarks/report.py``; never by the package.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch
from _report_compare import wrap
from torch.utils.flop_counter import FlopCounterMode

import seqlearn
from seqlearn.data import load_names, stratified_split
from seqlearn.data.batching import NextTokenBatch, collate_next_token
from seqlearn.nn import ConditionalLM
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import next_token_loss

ROOT = Path(__file__).resolve().parents[1]


def weight_matrices(model: ConditionalLM[Any]) -> list[tuple[str, int, int]]:
    """``(name, rows, columns)`` of every matrix one step multiplies by: the cell's
    (each layer's input and recurrent weights) and the output layer's.

    Example:
        >>> from seqlearn.nn import GRUCell
        >>> model = ConditionalLM(GRUCell(50, 256), vocab_size=59, num_categories=18,
        ...                       embedding_dim=32)
        >>> weight_matrices(model)
        [('cell.weight_ih', 768, 50), ('cell.weight_hh', 768, 256), ('head.weight', 59, 256)]
    """
    matrices = [
        (f"cell.{name}", int(weight.shape[0]), int(weight.shape[1]))
        for name, weight in model.cell.named_parameters()
        if weight.dim() == 2
    ]
    head = model.head.weight
    return [*matrices, ("head.weight", int(head.shape[0]), int(head.shape[1]))]


def forward_flops_per_character(matrices: list[tuple[str, int, int]]) -> int:
    """Matrix-product FLOPs of one step of the forward pass: one multiply and one add per
    weight, ``2 * sum(rows * columns)``.

    Example:
        >>> forward_flops_per_character([("w_ih", 768, 50), ("w_hh", 768, 256), ("head", 59, 256)])
        500224
    """
    return 2 * sum(rows * columns for _, rows, columns in matrices)


def training_flops_per_character(matrices: list[tuple[str, int, int]]) -> int:
    """Forward and backward FLOPs of one character: 3 times the forward products.

    Exact for a step whose incoming state needs a gradient; at each sequence's first step
    the zero initial state needs none, so a real batch does ``2 * rows * columns`` less per
    sequence for each recurrent matrix (:func:`counted_flops` sees that).

    Example:
        >>> training_flops_per_character([("w_ih", 768, 50), ("w_hh", 768, 256), ("head", 59, 256)])
        1500672
    """
    return 3 * forward_flops_per_character(matrices)


def counted_flops(model: ConditionalLM[Any], batch: NextTokenBatch) -> int:
    """FLOPs that ``FlopCounterMode`` counts in one forward and backward pass of ``batch``.

    The gradients are dropped afterwards; the model's weights are left unchanged.
    """
    # The counter cannot see into torch's oneDNN LSTM kernel: count the decomposed path.
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        with FlopCounterMode(display=False) as counter:
            loss = next_token_loss(model, batch)
            (loss.total / loss.num_items).backward()  # type: ignore[no-untyped-call]
    finally:
        torch.backends.mkldnn.enabled = onednn
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def training_examples(
    data_dir: Any, seed: int, valid_fraction: float = 0.2
) -> list[tuple[list[int], int]]:
    """The names generator's training names, split and encoded as the example does."""
    names = load_names(data_dir)
    tokenizer = CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(seed)
    train_idx, _ = stratified_split(names.labels, valid_fraction, generator=split)
    encoded = [(tokenizer.encode(names[i][0]), names[i][1]) for i in train_idx]
    return [(ids, label) for ids, label in encoded if ids]


def matmul_rate(
    device: torch.device, size: int, repeats: int, dtype: torch.dtype = torch.float32
) -> float:
    """FLOP/s of ``torch.mm`` on two ``size x size`` matrices: the best of ``repeats``."""
    generator = torch.Generator(device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    out = torch.empty_like(a)
    torch.mm(a, b, out=out)  # warm-up: allocation, kernel selection, thread start
    _synchronize(device)
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def efficiency_lines(
    model_folder: Path,
    epoch_seconds: list[float],
    *,
    data_dir: Path,
    seed: int,
    device: torch.device,
    quick: bool,
) -> list[str]:
    """The efficiency section: training FLOP/s of the names generator against ``torch.mm``.

    Args:
        model_folder: A folder ``examples/names_generation.py`` wrote (its model's sizes).
        epoch_seconds: The training seconds of each epoch of that run.
        data_dir: The data dir holding ``names/``.
        seed: The run's seed (its training split).
        device: Where the run trained, and where ``torch.mm`` is timed.
        quick: Smaller matrices and fewer repeats.
    """
    generator = seqlearn.load(model_folder)
    model, tokenizer = generator.model, generator.tokenizer
    matrices = weight_matrices(model)
    per_character = training_flops_per_character(matrices)
    examples = training_examples(data_dir, seed)
    characters = sum(len(ids) for ids, _ in examples)
    batch_examples = sorted(examples[:64], key=lambda example: -len(example[0]))
    batch = collate_next_token(batch_examples, eos_id=tokenizer.eos_id)
    model.train()
    counted = counted_flops(model, batch) / int(batch.lengths.sum())
    epoch = statistics.median(epoch_seconds)
    achieved = per_character * characters / epoch
    shapes = ", ".join(f"{name} {rows}x{columns}" for name, rows, columns in matrices)
    lines = [
        f"model: the trained generator ({type(model.cell).__name__}); the matrices a step "
        f"multiplies by: {shapes}",
        "FLOPs per character, counted analytically: 3 x the forward matrix products "
        f"(2 x rows x columns of each: {forward_flops_per_character(matrices):,}; the "
        f"embedding is a lookup, elementwise work not counted) = {per_character:,}",
        f"  check: torch.utils.flop_counter.FlopCounterMode on one training step of "
        f"{len(batch_examples)} names counts {counted:,.0f} per character (the output layer "
        "at padded positions included, no gradient into the zero initial state)",
        f"training characters per epoch {characters:,}; median epoch {epoch:.2f} s, of "
        f"{len(epoch_seconds)} (batching, optimiser and clipping included)",
        f"seqlearn's training achieves {achieved / 1e9:.2f} GFLOP/s on {device.type}",
    ]
    size, repeats = (512, 2) if quick else ((8192, 10) if device.type == "cuda" else (2048, 5))
    dtypes = [torch.float32] + ([torch.bfloat16] if device.type == "cuda" else [])
    rates = {dtype: matmul_rate(device, size, repeats, dtype) for dtype in dtypes}
    for dtype, rate in rates.items():
        name = str(dtype).removeprefix("torch.")
        lines.append(
            f"torch.mm on {size} x {size} {name} matrices, best of {repeats}: "
            f"{rate / 1e9:.1f} GFLOP/s"
        )
    compared = torch.bfloat16 if device.type == "cuda" else torch.float32
    name = str(compared).removeprefix("torch.")
    lines.append(
        f"efficiency: {achieved / rates[compared]:.3f} of the {name} matmul rate "
        f"({achieved / rates[compared]:.1%})"
    )
    if device.type == "cuda":
        lines.append(
            "  on CUDA the example trains with --mixed-precision (bfloat16 autocast), so the "
            "bfloat16 rate is the one compared (float32 shown for reference)"
        )
    return [part for line in lines for part in wrap(line, "", "    ")]
