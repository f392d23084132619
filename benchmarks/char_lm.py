"""A plain 2-layer LSTM against the regularised one, at equal training time.

Runs ``examples/char_lm.py`` twice on the same data with the same time budget, one run
after the other in fresh processes (never side by side: two torch processes on a small
machine slow each other several times over): once with ``--plain`` (no regulariser) and
once with the example's defaults (weight-drop, locked dropout, word dropout, tied
weights, AR/TAR). Each run stops when ``--seconds`` have passed (``--max-seconds``,
validation passes included) and is then evaluated on the whole held-out text. Prints both
held-out bits per character, the difference, how many epochs each trained, and the load
average before and after; refuses to start on a loaded machine unless ``--allow-loaded``.

    python benchmarks/char_lm.py --data-dir ../shared/data --seconds 600

Extra flags after ``--`` go to both runs (for example ``-- --hidden-size 256``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "char_lm.py"


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The benchmark's flags, and the flags passed on to the example."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding sst/")
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs' folders here")
    parser.add_argument("--max-load", type=float, default=0.5, help="refuse above this load")
    parser.add_argument(
        "--allow-loaded", action="store_true", help="run on a loaded machine, flagged"
    )
    argv = sys.argv[1:] if argv is None else argv
    passed: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passed = argv[:cut], argv[cut + 1 :]
    return parser.parse_args(argv), passed


def run(variant: str, args: argparse.Namespace, passed: list[str], out: Path) -> dict[str, Any]:
    """One run of the example to its time budget; its metrics.json."""
    command = [sys.executable, str(EXAMPLE), "--out", str(out / variant), "--no-progress"]
    command += ["--max-seconds", str(args.seconds), "--epochs", "1000", "--seed", str(args.seed)]
    if args.data_dir is not None:
        command += ["--data-dir", str(args.data_dir)]
    command += ["--plain"] * (variant == "plain") + passed
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True)
    metrics: dict[str, Any] = json.loads((out / variant / "metrics.json").read_text())
    return metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both variants and print the comparison; returns it."""
    args, passed = parse_args(argv)
    before = os.getloadavg()
    print(f"load average before: {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}")
    if before[0] > args.max_load and not args.allow_loaded:
        raise SystemExit(
            f"load average {before[0]:.2f} is above --max-load {args.max_load}: wait for an "
            "idle machine, or pass --allow-loaded (the figures are then flagged)"
        )
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        results = {variant: run(variant, args, passed, out) for variant in ("plain", "regularised")}
    after = os.getloadavg()
    flag = " (LOADED MACHINE)" if before[0] > args.max_load else ""
    print(f"\nheld-out bits per character after {args.seconds:.0f} s of training each{flag}:")
    for variant, metrics in results.items():
        print(
            f"  {variant:<12} {metrics['final_valid_bpc']:.4f} bpc   "
            f"{len(metrics['train_bpc'])} full epoch(s) in {metrics['train_seconds']:.0f} s"
        )
    gain = results["plain"]["final_valid_bpc"] - results["regularised"]["final_valid_bpc"]
    print(f"  regularised better by {gain:.4f} bpc")
    print(f"load average after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")
    return {"gain_bpc": gain, **results}


if __name__ == "__main__":
    main()
