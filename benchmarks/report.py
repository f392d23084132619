"""seqlearn's performance report: every side-by-side figure in one run, dated.

Prints the machine, then:

1. for each lecture task (names generation, names classification, sentiment), the
   lecture's approach beside seqlearn's default example: the training seconds at which
   seqlearn first reaches the lecture's final held-out figure, and the figure seqlearn
   reaches within the lecture's training time;
2. the cells table of ``benchmarks/cells.py``;
3. the decoding table of ``benchmarks/decoding.py``, with the names generator of part 1;
4. the FLOP/s that training the names generator achieves, against ``torch.mm``'s rate.

The full run took about 9 minutes on two CPU cores (2026-11-29, load average 0.95 at its
start, the lecture's generation loop then on 1 thread; with ``SENTIMENT_LECTURE_LR``
set below; unset, the sentiment lecture's rate search adds a few minutes); the slow lecture
baselines run fewer than their 5 epochs to fit (each says so, with the extrapolated time of
all 5), and ``--lecture-epochs 5`` runs them whole, about 6 minutes more. ``--quick`` is
a smoke run of a minute or two on tiny data, whose figures mean nothing. ``--device cuda``
runs the examples and the decoding benchmark on a GPU (and refuses at once where CUDA is
missing); a comparison of the lecture's side and seqlearn's on different devices or in
different precisions is labelled *cross-device* or *cross-precision* where it is printed.

Every run, the lecture's loops included, uses ``--threads`` torch threads (2 by default);
``--lecture-one-thread`` also times the lecture's loops on 1 thread, printed for
information only.

The report prints the load average at its start and its end, and refuses to start on a
loaded machine (a 1-minute load average above ``--max-load``, 0.5 by default) unless
``--allow-loaded`` is given; then every table is flagged as measured on a loaded machine.

Run: ``python benchmarks/report.py [--data-dir DIR] [--quick] [--skip PART ...]
[--device cuda] [--lecture-epochs N] [--find-lr] [--threads N] [--lecture-one-thread]
[--allow-loaded] [--max-load X]``.
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
# epoch took about 21 s (generation, then on 1 thread), 40 s (classification) and half a
# minute or more (sentiment, 5,000 SGD steps) on two cores (2026-11-29, load average 0.95
# at the start; to be re-measured on an idle machine), beside 30 s, 52 s and 193 s for all of
# seqlearn's defaults, so all 5 of each would not fit in 10 minutes. Sentiment gets 3: its
# lecture epoch is shorter than seqlearn's first, and after one epoch no seqlearn epoch
# would have ended in the lecture's time.
LECTURE_EPOCHS = {"generation": 2, "classification": 1, "sentiment": 3}

TASKS = ["generation", "classification", "sentiment"]
PARTS = [*TASKS, "cells", "decoding", "efficiency"]

# The highest 1-minute load average at which the report starts without --allow-loaded: on
# two cores, a load of 0.5 already means another process runs half the time.
MAX_LOAD = 0.5


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
        epilog="The full run took about 9 minutes on two CPU cores; --quick a minute or two. "
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
        default=2,
        metavar="N",
        help="torch threads of every run, the lecture's loops included (0: torch's default)",
    )
    parser.add_argument(
        "--lecture-one-thread",
        action="store_true",
        help="also time the lecture's loops on 1 thread, printed for information only",
    )
    parser.add_argument(
        "--allow-loaded",
        action="store_true",
        help="run even when the machine is loaded (load average above --max-load), every "
        "table flagged as measured on a loaded machine",
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=MAX_LOAD,
        metavar="X",
        help="the highest 1-minute load average at which the report starts without --allow-loaded",
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
        lecture_one_thread=args.lecture_one_thread,
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


def machine_lines(
    settings: Settings, load: float | None = None, max_load: float = MAX_LOAD
) -> list[str]:
    """Date, CPU, cores, memory, software, threads, device and load: what dates the figures.

    ``load`` is the load average read at the start (``None``: read it now).
    """
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
    lines.append(load_line("start", load_average() if load is None else load, max_load))
    lines.append(f"data: {settings.data_dir}; outputs and logs: {settings.out}")
    return lines


# ---------------------------------------------------------------------------- the load


def load_average() -> float | None:
    """The 1-minute load average; ``None`` where the system does not say (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def load_line(when: str, load: float | None, max_load: float) -> str:
    """``load average at the start: 0.12 (...)``, saying whether it is above ``max_load``.

    Example:
        >>> load_line("end", 0.12, 0.5)
        'load average at the end: 0.12 (1 minute; at most 0.50)'
    """
    if load is None:
        return f"load average at the {when}: unknown (this system does not say)"
    verdict = (
        f"above {max_load:.2f}: a loaded machine, every figure is worse"
        if load > max_load
        else f"at most {max_load:.2f}"
    )
    return f"load average at the {when}: {load:.2f} (1 minute; {verdict})"


def loaded_flag(load: float | None, max_load: float, allow_loaded: bool) -> str:
    """The flag put over every table when the machine is loaded; ``""`` when it is not.

    Raises:
        LoadedMachineError: If the load is above ``max_load`` and ``allow_loaded`` is False.

    Example:
        >>> loaded_flag(0.2, 0.5, allow_loaded=False)
        ''
        >>> loaded_flag(1.3, 0.5, allow_loaded=True)[:40]
        '!! MEASURED ON A LOADED MACHINE: load av'
    """
    if load is None or load <= max_load:
        return ""
    if not allow_loaded:
        raise LoadedMachineError(
            f"the machine is loaded: its 1-minute load average is {load:.2f}, above "
            f"{max_load:.2f} (--max-load); measure on an idle machine, or pass --allow-loaded "
            "to run anyway with every table flagged"
        )
    return (
        f"!! MEASURED ON A LOADED MACHINE: load average {load:.2f} at the start, above "
        f"{max_load:.2f} (--allow-loaded) !!"
    )


class LoadedMachineError(RuntimeError):
    """The machine is too loaded for the report to start (without ``--allow-loaded``)."""


# ---------------------------------------------------------------------------- the report


def section(title: str, lines: list[str], flag: str = "") -> None:
    """Print one part of the report under its title, and ``flag`` first if given."""
    print(f"\n== {title} ==", flush=True)
    lines = flagged(lines, flag) if lines else lines
    if lines:
        print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every part not skipped, printing each as it ends; returns what was measured.

    Refuses to start (status 2, one line on stderr, nothing made) when the machine is
    loaded, unless ``--allow-loaded`` is given.
    """
    args = parse_args(argv)
    load_start = load_average()
    try:
        flag = loaded_flag(load_start, args.max_load, args.allow_loaded)
    except LoadedMachineError as error:
        print(f"report.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    settings = settings_of(args)
    torch.set_num_threads(settings.threads)
    skip = set(args.skip)
    started = time.perf_counter()
    section(
        "machine", machine_lines(settings, load_start, args.max_load) + ([flag] if flag else [])
    )
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
            print("\n".join(flagged(format_task(task), flag)), flush=True)
        others: dict[str, Callable[[Settings], TaskResult]] = {
            "classification": classification,
            "sentiment": sentiment,
        }
        for name, run_task in others.items():
            if name not in skip:
                task = timed(name, functools.partial(run_task, settings))
                results[name] = task
                print("\n" + "\n".join(flagged(format_task(task), flag)), flush=True)
        if "cells" not in skip:
            section("2. cells beside torch.nn", timed("cells", lambda: cells(settings)), flag)
        if "decoding" not in skip:
            lines = timed("decoding", lambda: decoding(settings, model_folder))
            section("3. decoding", lines, flag)
        if "efficiency" not in skip:
            lines = timed("efficiency", lambda: efficiency(settings, results, model_folder))
            section("4. efficiency: training FLOP/s against the matmul rate", lines, flag)
    except ReportError as error:
        print(f"report.py: error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    total = time.perf_counter() - started
    parts = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in walls.items())
    section("wall time", [f"{parts}; total {total / 60:.1f} minutes"])
    load_end = load_average()
    own = args.threads or torch.get_num_threads()
    section("load", load_lines(load_start, load_end, args.max_load, flag, own))
    results["wall_seconds"] = walls
    results["load_average"] = {
        "start": load_start,
        "end": load_end,
        "max_load": args.max_load,
        "loaded": bool(flag),
    }
    return results


def flagged(lines: list[str], flag: str) -> list[str]:
    """``lines`` under ``flag`` (the loaded-machine warning), or as they are without one."""
    return [flag, *lines] if flag else lines


def load_lines(
    start: float | None, end: float | None, max_load: float, flag: str, own: int = 0
) -> list[str]:
    """The load average at the start and the end, and what it means for the figures.

    At the end the report's own ``own`` threads count in the load average, so only a load
    above ``own + max_load`` says that something else ran.
    """
    lines = [load_line("start", start, max_load)]
    if end is None:
        lines.append(load_line("end", end, max_load))
    else:
        lines.append(
            f"load average at the end: {end:.2f} (1 minute; the report's own {own} threads "
            f"count in it: at most {own + max_load:.2f} means nothing else ran)"
        )
    if flag:
        lines.append(flag)
    elif end is not None and end > own + max_load:
        lines.append(
            "!! the machine became loaded during the run (the load average at the end is above "
            f"{own + max_load:.2f}, the report's own {own} threads and {max_load:.2f}): the "
            "later figures may be worse than an idle machine's !!"
        )
    return lines


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
