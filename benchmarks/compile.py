"""What ``torch.compile`` gains or costs for seqlearn's models, measured on real batches.

For the classifier and the generator of the examples, this times training steps (forward,
loss, backward, Adam step) of the eager model and of ``torch.compile(model)`` (default
inductor backend) on the same batches of names, alternated, after timing the compiled
model's first steps apart (compilation; a new batch shape may compile again). It prints
the compilation time, the median step time of each and their ratio, with the load average.

The recurrent layers' packed runs stay eager inside a compiled model (packing reads the
lengths on the host), so only the embeddings, pooling, heads and loss compile.

Usage::

    python benchmarks/compile.py --data-dir ../shared/data [--steps 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlearn.data import LengthBucketSampler, NextTokenCollator, collate_classification, load_names
from seqlearn.nn import Bidirectional, ConditionalLM, GRUCell, SequenceClassifier, max_pool
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import classification_loss, next_token_loss


def batches(
    examples: list[tuple[list[int], int]], collate: Callable[..., Any], count: int
) -> list[Any]:
    sampler = LengthBucketSampler([len(ids) for ids, _ in examples], 64, shuffle=True)
    chosen = []
    for indices, _ in zip(sampler, range(count)):
        chosen.append(collate([examples[i] for i in indices]))
    return chosen


def step_seconds(model: nn.Module, objective: Any, batch: Any, optimizer: Any) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    loss = objective(model, batch)
    (loss.total / loss.num_items).backward()
    optimizer.step()
    return time.perf_counter() - start


def compare(name: str, make: Callable[[], nn.Module], objective: Any, data: list[Any]) -> None:
    torch.manual_seed(0)
    eager = make().train()
    compiled_model = make().train()
    compiled_model.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_model)
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in (eager, compiled_model)]
    warm = data[:8]  # the distinct shapes of the first batches: compiled here
    start = time.perf_counter()
    for batch in warm:
        step_seconds(compiled, objective, batch, optimizers[1])
    compile_seconds = time.perf_counter() - start
    for batch in warm:
        step_seconds(eager, objective, batch, optimizers[0])
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for batch in data[8:]:  # alternated, so drifts hit both
        times["eager"].append(step_seconds(eager, objective, batch, optimizers[0]))
        times["compiled"].append(step_seconds(compiled, objective, batch, optimizers[1]))
    eager_median = statistics.median(times["eager"])
    compiled_median = statistics.median(times["compiled"])
    print(
        f"{name}: first 8 compiled steps {compile_seconds:.1f} s (compilation); median step "
        f"eager {eager_median * 1e3:.1f} ms, compiled {compiled_median * 1e3:.1f} ms, "
        f"compiled / eager {compiled_median / eager_median:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding names/")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per model")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    torch.manual_seed(0)
    names = load_names(args.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    examples = [(ids, y) for ids, y in ((tokenizer.encode(t), y) for t, y in names) if ids]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.2f}")

    def classifier() -> nn.Module:
        encoder = Bidirectional(GRUCell(64, 128), GRUCell(64, 128))
        return SequenceClassifier(
            encoder, vocab_size=len(tokenizer), num_classes=18, embedding_dim=64,
            pooling=max_pool, dropout=0.5,
        )  # fmt: skip

    def generator() -> nn.Module:
        return ConditionalLM(
            GRUCell(18 + 32, 256), vocab_size=len(tokenizer), num_categories=18,
            embedding_dim=32, dropout=0.3,
        )  # fmt: skip

    count = args.steps + 8
    compare(
        "classifier (BiGRU 128)",
        classifier,
        classification_loss,
        batches(examples, collate_classification, count),
    )
    compare(
        "generator (GRU 256)",
        generator,
        next_token_loss,
        batches(examples, NextTokenCollator(eos_id=tokenizer.eos_id), count),
    )


if __name__ == "__main__":
    main()
