"""Cold start: a fresh process that loads a saved classifier and predicts one name, beside
a fresh process that only imports torch.

A user's ``predict`` pays for starting Python, importing torch and seqlearn, reading the
artifact and running the model once. This script times whole processes, alternating the
commands (torch, seqlearn import, load and predict) ``--repeats`` times after one warm-up
round each, and prints the medians and their ratio to ``import torch``, with the load
average. The target (issue 11) is a ratio of at most 1.3.

Usage::

    python benchmarks/cold_start.py                 # an untrained classifier of the
                                                    # example's default shape
    python benchmarks/cold_start.py --model runs/names_classification --repeats 15
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "import torch": "import torch",
    "import seqlearn": "import seqlearn",
    "load + predict one name": ("import seqlearn; seqlearn.load({model!r}).predict(['Nguyen'])"),
}


def example_shaped_classifier(folder: Path) -> Path:
    """Save a classifier shaped as the classification example's default (untrained)."""
    import seqlearn
    from seqlearn.nn import Bidirectional, GRUCell, SequenceClassifier, max_pool

    tokenizer = seqlearn.CharTokenizer(oov="drop")
    model = SequenceClassifier(
        Bidirectional(GRUCell(64, 128), GRUCell(64, 128)),
        vocab_size=len(tokenizer),
        num_classes=18,
        embedding_dim=64,
        pooling=max_pool,
        dropout=0.5,
    )
    labels = [f"language {i}" for i in range(18)]
    return seqlearn.TextClassifier(model, tokenizer, labels).save(folder)


def seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a saved classifier folder")
    parser.add_argument("--repeats", type=int, default=11, help="timed runs of each command")
    args = parser.parse_args()
    load = os.getloadavg()  # before this script starts any process
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or example_shaped_classifier(Path(scratch) / "classifier")
        codes = {name: code.format(model=str(model)) for name, code in COMMANDS.items()}
        for code in codes.values():  # warm-up: the file cache, not the timings
            seconds(code)
        times: dict[str, list[float]] = {name: [] for name in codes}
        for _ in range(args.repeats):
            for name, code in codes.items():  # alternated, so drifts hit every command
                times[name].append(seconds(code))
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load[0]:.2f} before"
    )
    print(f"model: {args.model or 'untrained, example-shaped (BiGRU 64/128, 18 labels)'}")
    baseline = statistics.median(times["import torch"])
    print(f"{'fresh process':<26} {'median s':>9} {'min s':>7} {'/ import torch':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<26} {median:9.3f} {min(values):7.3f} {median / baseline:14.2f}x")
    if load[0] > 0.5:
        print(f"warning: the machine was not idle (load average {load[0]:.2f})")


if __name__ == "__main__":
    main()
