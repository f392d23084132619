"""The performance report's runs: the lecture's approaches and seqlearn's defaults.

Each example runs in its own process (``sys.executable examples/NAME.py ...``), its output
kept in a log file under the report's output folder, and is read back from the
``metrics.json`` it writes there. The lecture's names generator is the per-example loop of
``benchmarks/names_generation.py``, run in this process, on the CPU in float32, on the
same number of threads as every other run.

Every run records its device and precision: with ``--device cuda`` seqlearn's side trains
in bfloat16 autocast on the GPU, the lecture's generation loop stays on the CPU in float32
(a *cross-device* comparison) and the other lecture exercises run on the GPU in float32
(*cross-precision*); the printed tables say so.

Imported by ``benchmarks/report.py``; never by the package.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from _report_compare import Quality, Run, TaskResult

from seqlearn.data import load_names, stratified_split
from seqlearn.tokenize import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BENCHMARKS = ROOT / "benchmarks"
LECTURE_EPOCHS = 5  # every lecture approach trains 5 epochs
QUICK_EPOCHS = 2

NLL = Quality("valid_nll", "held-out NLL", higher_is_better=False)
ACCURACY = Quality("valid_accuracy", "validation accuracy", higher_is_better=True)
PHRASE_ACCURACY = Quality("valid_accuracy", "phrase accuracy", higher_is_better=True)
SENTENCE_ACCURACY = Quality("valid_sentence_accuracy", "sentence accuracy", higher_is_better=True)


class ReportError(RuntimeError):
    """A run failed; the message says which and ends with the tail of its log."""


@dataclass(frozen=True)
class Settings:
    """What every part of the report needs to know."""

    data_dir: Path
    out: Path
    device: str
    seed: int
    threads: int  # torch threads of every process and of the lecture's loop
    quick: bool
    lecture_epochs: dict[str, int]  # task -> epochs of the lecture's approach to run
    lecture_lrs: dict[str, float | None]  # task -> SGD rate passed with --lr (None: search)
    lecture_one_thread: bool = False  # also time the lecture's loops on 1 thread (information)

    def env(self) -> dict[str, str]:
        """The environment of the processes started: torch's thread count set."""
        return {**os.environ, "OMP_NUM_THREADS": str(self.threads), "PYTHONUNBUFFERED": "1"}


def progress(text: str) -> None:
    """A progress line on stderr, so that stdout holds the report alone."""
    print(text, file=sys.stderr, flush=True)


def run_script(script: Path, flags: list[str], log: Path, settings: Settings) -> float:
    """Run ``script`` with ``flags`` in a fresh process; returns its wall-clock seconds.

    Raises:
        ReportError: If it exits with an error.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as file:
        result = subprocess.run(
            [sys.executable, str(script), *flags],
            stdout=file,
            stderr=subprocess.STDOUT,
            env=settings.env(),
            cwd=ROOT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-15:])
        raise ReportError(
            f"{script.relative_to(ROOT)} {' '.join(flags)} exited with status "
            f"{result.returncode}; the end of {log}:\n{tail}"
        )
    return time.perf_counter() - start


def seqlearn_precision(settings: Settings) -> str:
    """What seqlearn's side trains in: bfloat16 autocast on CUDA, else float32."""
    return "bfloat16" if settings.device == "cuda" else "float32"


def run_example(name: str, flags: list[str], folder: Path, settings: Settings) -> dict[str, Any]:
    """Train ``examples/<name>.py`` into ``folder``; its metrics, with ``wall_seconds``."""
    flags = [*flags, "--seed", str(settings.seed), "--device", settings.device]
    if seqlearn_precision(settings) == "bfloat16" and "--lecture" not in flags:
        flags.append("--mixed-precision")  # seqlearn's side: bfloat16 autocast where it helps
    flags += ["--no-progress", "--out", str(folder)]
    wall = run_script(EXAMPLES / f"{name}.py", flags, folder.with_suffix(".log"), settings)
    metrics: dict[str, Any] = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    metrics["wall_seconds"] = wall
    return metrics


def run_of(
    label: str,
    metrics: dict[str, Any],
    qualities: list[Quality],
    *,
    device: str = "cpu",
    precision: str = "float32",
) -> Run:
    """A :class:`Run` from an example's ``metrics.json``, and where it ran."""
    values = {quality.key: list(metrics[quality.key]) for quality in qualities}
    return Run(label, list(metrics["epoch_seconds"]), values, device=device, precision=precision)


def seqlearn_run(
    label: str, metrics: dict[str, Any], qualities: list[Quality], settings: Settings
) -> Run:
    """seqlearn's side: on ``settings.device``, in :func:`seqlearn_precision`."""
    return run_of(
        label, metrics, qualities, device=settings.device, precision=seqlearn_precision(settings)
    )


def lecture_run(
    label: str, metrics: dict[str, Any], qualities: list[Quality], settings: Settings
) -> Run:
    """A lecture exercise run by an example with ``--lecture``: on the device, in float32."""
    return run_of(label, metrics, qualities, device=settings.device, precision="float32")


def lecture_epochs(task: str, settings: Settings) -> int:
    return QUICK_EPOCHS if settings.quick else settings.lecture_epochs[task]


def epochs_note(run: Run, settings: Settings) -> list[str]:
    """Say so when the lecture ran fewer epochs than its 5, and what all 5 would take."""
    ran = len(run.epoch_seconds)
    if ran >= LECTURE_EPOCHS or not ran:
        return []
    why = (
        "for a smoke run (--quick)"
        if settings.quick
        else f"to fit the 10-minute budget (--lecture-epochs {LECTURE_EPOCHS} runs all)"
    )
    full = run.total_seconds / ran * LECTURE_EPOCHS
    return [
        f"{ran} of its {LECTURE_EPOCHS} epochs run {why}: the target is its figure after "
        f"epoch {ran}; all {LECTURE_EPOCHS} would take about {full:.0f} s of training "
        "(EXTRAPOLATED from its mean epoch, not measured)"
    ]


def lr_flags(task: str, settings: Settings, measured: str) -> tuple[list[str], str]:
    """``--lr`` for the lecture's run, and a note saying where the rate comes from."""
    lr = settings.lecture_lrs[task]
    if lr is None:
        return [], ""
    return ["--lr", f"{lr:.6g}"], (
        f"SGD at lr {lr:.4g}, {measured}, passed with --lr to skip the divergence search "
        "(--find-lr runs it)"
    )


def lr_note(metrics: dict[str, Any], given: str) -> str:
    """Where the lecture's rate came from: given, or found in this run (and how long)."""
    if given:
        return given
    found, lr = metrics.get("divergent_lr"), float(metrics["config"]["lr"])
    searched = metrics["wall_seconds"] - metrics["train_seconds"]
    return (
        f"SGD at lr {lr:.4g}, a quarter of the divergent rate {found:.4g} that the search "
        f"found in this run (the search, start-up and evaluation took {searched:.0f} s of "
        "wall time, not counted in the training seconds)"
    )


# ---------------------------------------------------------------------------- generation


def generation(settings: Settings) -> tuple[TaskResult, Path]:
    """The lecture's loop against ``examples/names_generation.py``; and the latter's folder."""
    folder = settings.out / "generation" / "seqlearn"
    lecture = generation_lecture(settings)
    progress("names generation: seqlearn's default example ...")
    flags = ["--data-dir", str(settings.data_dir)]
    if settings.quick:
        flags += ["--epochs", "1"]
    metrics = run_example("names_generation", flags, folder, settings)
    ours = seqlearn_run("seqlearn default", metrics, [NLL], settings)
    ours.notes.append(
        f"examples/names_generation.py defaults (2-layer LSTM 256 over letter embeddings, "
        f"Adam, batches of 64 names), {settings.threads} threads, device {settings.device}"
    )
    task = TaskResult(
        "names generation: held-out NLL in nats per character (lower is better)",
        [NLL],
        lecture,
        ours,
        LECTURE_EPOCHS,
    )
    return task, folder


def generation_lecture(settings: Settings) -> Run:
    """The lecture's per-example loop (``benchmarks/names_generation.py``), on the CPU.

    It runs on ``settings.threads`` threads, as seqlearn's side does; with
    ``settings.lecture_one_thread`` its first epoch is timed once more on 1 thread, from
    the same weights and draws, and printed in a note for information.
    """
    bench: dict[str, Any] = runpy.run_path(str(BENCHMARKS / "names_generation.py"))
    names = load_names(settings.data_dir)
    tokenizer = CharTokenizer(oov="drop")
    split = torch.Generator().manual_seed(settings.seed)
    train_idx, valid_idx = stratified_split(names.labels, 0.2, generator=split)
    encoded = [(tokenizer.encode(text), label) for text, label in names]
    by_category: list[list[list[int]]] = [[] for _ in names.categories]
    for index in train_idx:
        ids, label = encoded[index]
        if ids:
            by_category[label].append(ids)
    valid = [encoded[i] for i in valid_idx if encoded[i][0]]
    steps = len(names)  # the lecture's epoch: as many random draws as there are names
    if settings.quick:
        steps, valid = 300, valid[:300]
    epochs = lecture_epochs("generation", settings)
    torch.manual_seed(settings.seed)
    model = bench["LectureRNN"](len(names.categories))
    generator = torch.Generator().manual_seed(settings.seed)
    one_thread: float | None = None
    if settings.lecture_one_thread:
        progress("names generation: the lecture's loop, epoch 1 on 1 thread (information) ...")
        copy = bench["LectureRNN"](len(names.categories))
        copy.load_state_dict(model.state_dict())
        one_thread = one_thread_seconds(
            lambda: bench["lecture_epoch"](
                copy, by_category, steps, torch.Generator().manual_seed(settings.seed)
            )
        )
    torch.set_num_threads(settings.threads)  # as seqlearn's side runs
    seconds: list[float] = []
    nll: list[float | None] = []
    for epoch in range(epochs):
        progress(f"names generation: the lecture's loop, epoch {epoch + 1} of {epochs} ...")
        start = time.perf_counter()
        bench["lecture_epoch"](model, by_category, steps, generator)
        seconds.append(time.perf_counter() - start)
        nll.append(bench["lecture_nll"](model, valid, len(names.categories)))
    run = Run("lecture loop", seconds, {NLL.key: nll}, device="cpu", precision="float32")
    run.notes.append(
        f"benchmarks/names_generation.py's loop: {steps:,} one-name SGD steps an epoch at lr "
        f"0.0005, the lecture's Elman RNN over one-hot letters, {settings.threads} threads "
        "(as seqlearn's side), CPU, float32"
        + (f", NLL on {len(valid)} held-out names" if settings.quick else "")
    )
    if one_thread is not None:
        run.notes.append(
            f"for information, not compared: its epoch 1 on 1 thread took {one_thread:.1f} s "
            f"(on {settings.threads} threads: {seconds[0]:.1f} s)"
        )
    run.notes.extend(epochs_note(run, settings))
    return run


def one_thread_seconds(work: Callable[[], object]) -> float:
    """Wall-clock seconds of ``work`` on 1 torch thread; the thread count is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- classification


def classification(settings: Settings) -> TaskResult:
    """``examples/names_classification.py --lecture`` against its default."""
    folder = settings.out / "classification"
    if settings.quick:
        data = ["--categories-dir", str(quick_names(settings))]
        ours_flags = [*data, "--epochs", str(QUICK_EPOCHS)]
    else:
        data = ["--data-dir", str(settings.data_dir)]
        ours_flags = data
    epochs = lecture_epochs("classification", settings)
    given, note = lr_flags(
        "classification",
        settings,
        "a quarter of the divergent rate 0.0316 measured on 2026-11-29 (docs/examples/"
        "names_classification.rst)",
    )
    progress(f"names classification: the lecture's exercise, {epochs} epochs ...")
    flags = ["--lecture", *data, "--epochs", str(epochs), *given]
    metrics = run_example("names_classification", flags, folder / "lecture", settings)
    lecture = lecture_run("lecture", metrics, [ACCURACY], settings)
    lecture.notes.append(
        "examples/names_classification.py --lecture: the lecture's RNNForClassification, "
        "batches of one name, " + lr_note(metrics, note)
    )
    lecture.notes.extend(epochs_note(lecture, settings))
    progress("names classification: seqlearn's default example ...")
    metrics = run_example("names_classification", ours_flags, folder / "seqlearn", settings)
    ours = seqlearn_run("seqlearn default", metrics, [ACCURACY], settings)
    ours.notes.append(
        "examples/names_classification.py defaults (bidirectional GRU, max-pooled, AdamW, "
        "batches of 128, label smoothing 0.1)"
    )
    return TaskResult(
        "names classification: validation accuracy (higher is better)",
        [ACCURACY],
        lecture,
        ours,
        LECTURE_EPOCHS,
    )


def quick_names(settings: Settings, per_language: int = 20) -> Path:
    """A folder of the first names of each language, for a smoke run."""
    folder = settings.out / "quick_data" / "names"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((settings.data_dir / "names").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()[:per_language]
        (folder / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------- sentiment


def sentiment(settings: Settings) -> TaskResult:
    """``examples/sentiment.py --lecture`` against its default."""
    folder = settings.out / "sentiment"
    qualities = [PHRASE_ACCURACY, SENTENCE_ACCURACY]
    data = ["--data-dir", str(settings.data_dir)]
    ours_flags = data
    if settings.quick:
        train, valid = quick_phrases(settings)
        data += ["--train", str(train), "--valid", str(valid)]
        ours_flags = [*data, "--epochs", str(QUICK_EPOCHS)]
    epochs = lecture_epochs("sentiment", settings)
    given, note = lr_flags(
        "sentiment", settings, "a quarter of the divergent rate measured beforehand"
    )
    search = "" if given else ", after the divergence search"
    progress(f"sentiment: the lecture's exercise, {epochs} epochs{search} ...")
    flags = ["--lecture", *data, "--epochs", str(epochs), *given]
    metrics = run_example("sentiment", flags, folder / "lecture", settings)
    lecture = lecture_run("lecture", metrics, qualities, settings)
    lecture.notes.append(
        "examples/sentiment.py --lecture: the lecture's RNNForClassification over frozen "
        "GloVe 50d, batches of 32 phrases, " + lr_note(metrics, note)
    )
    lecture.notes.extend(epochs_note(lecture, settings))
    progress("sentiment: seqlearn's default example ...")
    metrics = run_example("sentiment", ours_flags, folder / "seqlearn", settings)
    ours = seqlearn_run("seqlearn default", metrics, qualities, settings)
    ours.notes.append(
        "examples/sentiment.py defaults (bidirectional GRU over fine-tuned GloVe 50d, "
        "max-pooled, AdamW, batches of 128)"
    )
    return TaskResult(
        "sentiment (Rotten Tomatoes, 5 classes): validation phrase and sentence accuracy "
        "(higher is better)",
        qualities,
        lecture,
        ours,
        LECTURE_EPOCHS,
    )


def quick_phrases(settings: Settings) -> tuple[Path, Path]:
    """The first phrases of the training and validation TSVs, for a smoke run."""
    folder = settings.out / "quick_data"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, count in [("train.tsv", 1000), ("valid.tsv", 300)]:
        source = settings.data_dir / "rotten_tomatoes" / name
        lines = source.read_text(encoding="utf-8").splitlines()[: count + 1]  # and the header
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(folder / name)
    return paths[0], paths[1]


# ---------------------------------------------------------------------------- benchmarks


def benchmark_output(
    name: str, flags: list[str], settings: Settings, drop: tuple[str, ...] = ()
) -> list[str]:
    """Run ``benchmarks/<name>.py`` and return its printed lines, less progress lines."""
    log = settings.out / f"{name}.log"
    run_script(BENCHMARKS / f"{name}.py", flags, log, settings)
    lines = log.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if not line.startswith(drop)]


def cells(settings: Settings) -> list[str]:
    """The cells table of ``benchmarks/cells.py`` (3 repeats a side; 1 with --quick)."""
    progress("cells: benchmarks/cells.py ...")
    flags = ["--data-dir", str(settings.data_dir), "--threads", str(settings.threads)]
    flags += ["--quick", "--repeats", "1"] if settings.quick else ["--repeats", "3"]
    if settings.lecture_one_thread:
        flags.append("--lecture-one-thread")
    return benchmark_output("cells", flags, settings)


def decoding(settings: Settings, model: Path | None) -> list[str]:
    """The decoding table of ``benchmarks/decoding.py``, with the generator trained above."""
    progress("decoding: benchmarks/decoding.py ...")
    flags = ["--data-dir", str(settings.data_dir), "--device", settings.device]
    flags += ["--threads", str(settings.threads), "--seed", str(settings.seed)]
    if model is not None:
        flags += ["--model", str(model)]
    elif settings.quick:
        flags += ["--epochs", "1"]
    if settings.quick:
        flags += ["--num-names", "300", "--loop-names", "30", "--beam-names", "30"]
        flags += ["--beam-widths", "1", "4", "--repeats", "1"]
    if settings.lecture_one_thread:
        flags.append("--lecture-one-thread")
    return benchmark_output("decoding", flags, settings, drop=("timing:", "training a names"))
