"""seqlearn's performance report: every side-by-side figure in one run, dated.

Prints the machine, then:

1. for each lecture task (names generation, names classification, sentiment), the
   lecture's approach beside seqlearn's default example: the training seconds at which
   seqlearn first reaches the lecture's final held-out figure, and the figure seqlearn
   reaches within the lecture's training time;
2. the cells table of ``benchmarks/cells.py``;
3. the decoding table of ``benchmarks/decoding.py``, with the names generator of part 1;
4. the FLOP/s that training the names generator achieves, against ``torch.mm``'s rate.

The full run takes about 9 minutes on two idle CPU cores (with ``SENTIMENT_LECTURE_LR``
set below; unset, the sentiment lecture's rate search adds a few minutes); the slow lecture
baselines run fewer than their 5 epochs to fit (each says so, with the extrapolated time of
all 5), and ``--lecture-epochs 5`` runs them whole, about 6 minutes more. ``--quick`` is
a smoke run of a minute or two on tiny data, whose figures mean nothing. ``--device cuda``
runs the examples and the decoding benchmark on a GPU (and refuses at once where CUDA is
missing).

Run: ``python benchmarks/report.py [--data-dir DIR] [--quick] [--skip PART ...]
[--device cuda] [--lecture-epochs N] [--find-lr]``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import seqlearn
from seqlearn.data.names import default_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the _report_* modules beside
from _report_compare import TaskResult, format_task
from _report_efficiency import efficiency_lines
from _report_runs import (
    ReportError,
    Settings,
    cells,
    classification,
    decoding,
    generation,
    progress,
    run_example,
    sentiment,
)

# The lecture's SGD rate on names classification: a quarter of the divergent rate 0.0316
# (10 ** -1.5) that examples/names_classification.py --lecture found on 2026-11-29 (see
# docs/examples/names_classification.rst); passed with --lr, which skips the search's six
# one-name epochs (about 4 minutes). --find-lr runs the search instead.
CLASSIFICATION_LECTURE_LR: float | None = 10**-1.5 / 4

# The lecture's SGD rate on sentiment: a quarter of the divergent rate 0.1 (10 ** -1) that
# examples/sentiment.py --lecture found on 2026-11-29 (see docs/examples/sentiment.rst);
# None: the report runs that search (an epoch per rate, not counted in the lecture's
# training time).
SENTIMENT_LECTURE_LR: float | None = 0.1 / 4

# Epochs of each lecture approach that the default run trains (of the lecture's 5): an
# epoch takes about 21 s (generation), 40 s (classification) and half a minute or more
# (sentiment, 5,000 SGD steps) on two idle cores, beside 30 s, 52 s and 193 s for all of
# seqlearn's defaults, so all 5 of each would not fit in 10 minutes. Sentiment gets 3: its
# lecture epoch is shorter than seqlearn's first, and after one epoch no seqlearn epoch
# would have ended in the lecture's time.
LECTURE_EPOCHS = {"generation": 2, "classification": 1, "sentiment": 3}

TASKS = ["generation", "classification", "sentiment"]
PARTS = [*TASKS, "cells", "decoding", "efficiency"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows the defaults that are set; unset ones say what unset means themselves."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; refuses ``--device cuda`` at once where CUDA is missing."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The full run takes about 9 minutes on two idle CPU cores; --quick a minute or two. "
        "The report goes to stdout, progress to stderr.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder holding names/ and rotten_tomatoes/ (default: $SEQLEARN_DATA, else "
        "the per-user cache)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the runs' outputs and logs (default: a new temporary folder)",
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="device of the examples, the decoding benchmark and the matmul rate; the "
        "lecture's generation loop and the cells table run on the CPU",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: tiny data and epochs, meaningless figures",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        action="extend",
        choices=PARTS,
        default=[],
        metavar="PART",
        help=f"parts to leave out: {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--lecture-epochs",
        type=int,
        default=None,
        metavar="N",
        help="epochs of every lecture approach (default: generation "
        f"{LECTURE_EPOCHS['generation']}, classification {LECTURE_EPOCHS['classification']}, "
        f"sentiment {LECTURE_EPOCHS['sentiment']}, to fit 10 minutes; 5 runs them whole)",
    )
    parser.add_argument(
        "--find-lr",
        action="store_true",
        help="run the lectures' divergent-rate searches instead of passing the measured rates",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="torch threads of every run (0: torch's default)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of every run")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        why = (
            f"this torch ({torch.__version__}) is built without CUDA"
            if torch.version.cuda is None
            else f"no CUDA device is visible (torch {torch.__version__}, CUDA {torch.version.cuda})"
        )
        # one line, argparse's format and status, before any work
        parser.exit(2, f"{parser.prog}: error: --device cuda: {why}\n")
    if args.lecture_epochs is not None and args.lecture_epochs < 1:
        parser.error(f"--lecture-epochs must be at least 1, got {args.lecture_epochs}")
    if args.threads < 0:
        parser.error(f"--threads must be 0 or more, got {args.threads}")
    return args


def settings_of(args: argparse.Namespace) -> Settings:
    """The runs' settings from the command line; makes the output folder."""
    out = args.out or Path(tempfile.mkdtemp(prefix="seqlearn_report_"))
    out.mkdir(parents=True, exist_ok=True)
    epochs = dict(LECTURE_EPOCHS)
    if args.lecture_epochs is not None:
        epochs = dict.fromkeys(TASKS, args.lecture_epochs)
    lrs = {"classification": CLASSIFICATION_LECTURE_LR, "sentiment": SENTIMENT_LECTURE_LR}
    if args.find_lr:
        lrs = dict.fromkeys(lrs)
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    return Settings(
        data_dir=data_dir,
        out=out.resolve(),
        device=args.device,
        seed=args.seed,
        threads=args.threads or torch.get_num_threads(),
        quick=args.quick,
        lecture_epochs=epochs,
        lecture_lrs=lrs,
    )


# ---------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int | None:
    """Distinct (package, core) pairs of /proc/cpuinfo; ``None`` where it does not say."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    cores, package = set(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_lines(settings: Settings) -> list[str]:
    """Date, CPU, cores, memory, software, threads and device: what dates the figures."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cores = physical_cores()
    memory = memory_gib()
    hardware = [cpu_model()]
    hardware.append(
        f"{cores} cores ({os.cpu_count()} logical CPUs)"
        if cores
        else f"{os.cpu_count()} logical CPUs"
    )
    if memory is not None:
        hardware.append(f"{memory:.0f} GiB")
    hardware.append(f"{platform.system()} {platform.machine()}")
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    device = settings.device
    if device == "cuda":
        device += f" ({torch.cuda.get_device_name(0)})"
    lines = [
        f"seqlearn performance report, {now:%Y-%m-%d %H:%M} UTC"
        + ("  [--quick: a smoke run, the figures mean nothing]" if settings.quick else ""),
        f"machine: {', '.join(hardware)}",
        f"software: Python {platform.python_version()}, torch {torch.__version__} ({build}), "
        f"seqlearn {seqlearn.__version__}; {settings.threads} torch threads; device {device}",
    ]
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        lines.append(
            f"load average at the start: {load:.2f} (on a busy machine every figure is worse)"
        )
    lines.append(f"data: {settings.data_dir}; outputs and logs: {settings.out}")
    return lines


# ---------------------------------------------------------------------------- the report


def section(title: str, lines: list[str]) -> None:
    """Print one part of the report under its title."""
    print(f"\n== {title} ==", flush=True)
    if lines:
        print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every part not skipped, printing each as it ends; returns what was measured."""
    args = parse_args(argv)
    settings = settings_of(args)
    torch.set_num_threads(settings.threads)
    skip = set(args.skip)
    started = time.perf_counter()
    section("machine", machine_lines(settings))
    results: dict[str, Any] = {}
    walls: dict[str, float] = {}

    def timed(part: str, run: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = run()
        walls[part] = time.perf_counter() - start
        return value

    model_folder: Path | None = None
    try:
        if any(task not in skip for task in TASKS):
            section("1. the lecture's approach against seqlearn's default", [])
        if "generation" not in skip:
            task, model_folder = timed("generation", lambda: generation(settings))
            results["generation"] = task
            print("\n".join(format_task(task)), flush=True)
        others: dict[str, Callable[[Settings], TaskResult]] = {
            "classification": classification,
            "sentiment": sentiment,
        }
        for name, run_task in others.items():
            if name not in skip:
                task = timed(name, functools.partial(run_task, settings))
                results[name] = task
                print("\n" + "\n".join(format_task(task)), flush=True)
        if "cells" not in skip:
            section("2. cells beside torch.nn", timed("cells", lambda: cells(settings)))
        if "decoding" not in skip:
            lines = timed("decoding", lambda: decoding(settings, model_folder))
            section("3. decoding", lines)
        if "efficiency" not in skip:
            lines = timed("efficiency", lambda: efficiency(settings, results, model_folder))
            section("4. efficiency: training FLOP/s against the matmul rate", lines)
    except ReportError as error:
        print(f"report.py: error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    total = time.perf_counter() - started
    parts = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in walls.items())
    section("wall time", [f"{parts}; total {total / 60:.1f} minutes"])
    results["wall_seconds"] = walls
    return results


def efficiency(settings: Settings, results: dict[str, Any], folder: Path | None) -> list[str]:
    """The efficiency section, from part 1's names generator (trained here if skipped)."""
    if folder is None:
        progress("efficiency: training seqlearn's names generator (generation was skipped) ...")
        folder = settings.out / "efficiency" / "seqlearn"
        flags = ["--data-dir", str(settings.data_dir), "--epochs", "1" if settings.quick else "2"]
        epoch_seconds = run_example("names_generation", flags, folder, settings)["epoch_seconds"]
        note = [
            f"(the generator trained for {len(epoch_seconds)} epochs here: generation was skipped)"
        ]
    else:
        epoch_seconds = results["generation"].seqlearn.epoch_seconds
        note = []
    progress("efficiency: counting FLOPs and timing torch.mm ...")
    lines = efficiency_lines(
        folder,
        epoch_seconds,
        data_dir=settings.data_dir,
        seed=settings.seed,
        device=torch.device(settings.device),
        quick=settings.quick,
    )
    return note + lines


if __name__ == "__main__":
    main()
