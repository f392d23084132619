"""benchmarks/report.py: its command line, its refusal without CUDA, and its pure helpers.

Nothing here trains or needs the data: the comparisons run on hand-made histories and the
FLOP count on a tiny model.
"""

from __future__ import annotations

import math
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "report.py"
sys.path.insert(0, str(SCRIPT.parent))

import _report_runs  # noqa: E402
from _report_compare import (  # noqa: E402
    Quality,
    Run,
    TaskResult,
    format_task,
    pairing,
    quality_in_time,
    sides_line,
    time_to_reach,
)
from _report_efficiency import (  # noqa: E402
    counted_flops,
    forward_flops_per_character,
    matmul_rate,
    training_flops_per_character,
    weight_matrices,
)
from _report_runs import (  # noqa: E402
    Settings,
    epochs_note,
    generation_lecture,
    lecture_run,
    seqlearn_precision,
    seqlearn_run,
)

from seqlearn.data.batching import collate_next_token  # noqa: E402
from seqlearn.nn import ConditionalLM, GRUCell, LSTMCell, StackedCell  # noqa: E402

ACCURACY = Quality("valid_accuracy", "accuracy", higher_is_better=True)
NLL = Quality("valid_nll", "NLL", higher_is_better=False)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


def run_report(*flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *flags],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------------------- command line


def test_help_lists_every_flag_and_part() -> None:
    result = run_report("--help")
    assert result.returncode == 0
    for flag in [
        "--data-dir",
        "--out",
        "--device",
        "--quick",
        "--skip",
        "--lecture-epochs",
        "--find-lr",
        "--threads",
        "--seed",
        "--lecture-one-thread",
        "--allow-loaded",
        "--max-load",
    ]:
        assert flag in result.stdout
    for part in ["generation", "classification", "sentiment", "cells", "decoding", "efficiency"]:
        assert part in result.stdout


def test_device_cuda_refused_at_once_without_cuda(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run_report("--device", "cuda", "--out", str(out), CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("report.py: error: --device cuda:")
    assert not out.exists()  # refused before any work


def test_device_cuda_refused_when_torch_sees_no_gpu(
    report: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        report["parse_args"](["--device", "cuda", "--quick"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "CUDA" in captured.err


def test_device_cuda_accepted_when_cuda_is_there(
    report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert report["parse_args"](["--device", "cuda"]).device == "cuda"


def test_bad_values_are_refused(report: dict[str, Any]) -> None:
    for flags in (["--lecture-epochs", "0"], ["--skip", "everything"], ["--threads", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            report["parse_args"](flags)
        assert exit_info.value.code == 2


def test_machine_lines_date_the_report(report: dict[str, Any], tmp_path: Path) -> None:
    settings = report["settings_of"](report["parse_args"](["--out", str(tmp_path), "--quick"]))
    text = "\n".join(report["machine_lines"](settings))
    assert "UTC" in text and f"torch {torch.__version__}" in text
    assert "cores" in text or "logical CPUs" in text


def test_every_run_uses_the_same_threads_by_default(report: dict[str, Any], tmp_path: Path) -> None:
    args = report["parse_args"](["--out", str(tmp_path)])
    assert args.threads == 2 and not args.lecture_one_thread
    settings = report["settings_of"](args)
    assert settings.threads == 2 and settings.env()["OMP_NUM_THREADS"] == "2"
    args = report["parse_args"](["--out", str(tmp_path), "--lecture-one-thread"])
    assert report["settings_of"](args).lecture_one_thread


# ---------------------------------------------------------------------------- the load

ALL_PARTS = ["generation", "classification", "sentiment", "cells", "decoding", "efficiency"]


def test_loaded_flag_refuses_a_loaded_machine_unless_allowed(report: dict[str, Any]) -> None:
    assert report["loaded_flag"](0.5, 0.5, allow_loaded=False) == ""  # at the limit: runs
    assert report["loaded_flag"](None, 0.5, allow_loaded=False) == ""  # unknown: runs
    with pytest.raises(report["LoadedMachineError"], match=r"1\.30, above 0\.50"):
        report["loaded_flag"](1.3, 0.5, allow_loaded=False)
    flag = report["loaded_flag"](1.3, 0.5, allow_loaded=True)
    assert "LOADED MACHINE" in flag and "1.30" in flag


def test_load_lines_say_start_end_and_a_load_that_came_later(report: dict[str, Any]) -> None:
    lines = report["load_lines"](0.1, 2.9, 0.5, "", 2)
    assert lines[0].startswith("load average at the start: 0.10")
    assert lines[1].startswith("load average at the end: 2.90")
    assert "became loaded during the run" in lines[2]
    # the report's own two threads count in the load at its end: that is not a loaded machine
    own = report["load_lines"](0.1, 2.2, 0.5, "", 2)
    assert own == [lines[0], own[1]] and "own 2 threads" in own[1]
    assert "unknown" in report["load_line"]("start", None, 0.5)


def test_report_refuses_to_start_on_a_loaded_machine(
    report: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 1.2, 1.0))
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:
        report["main"](["--out", str(out), "--skip", *ALL_PARTS])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("report.py: error: the machine is loaded")
    assert "--allow-loaded" in lines[0]
    assert not out.exists()  # refused before any work


def test_allow_loaded_flags_every_table(
    report: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 1.2, 1.0))
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)  # keep the tests' own
    results = report["main"](["--out", str(tmp_path), "--skip", *ALL_PARTS, "--allow-loaded"])
    text = capsys.readouterr().out
    assert "load average at the start: 1.70" in text and "load average at the end: 1.70" in text
    assert text.count("MEASURED ON A LOADED MACHINE") == 2  # the machine and the load
    assert results["load_average"] == {"start": 1.7, "end": 1.7, "max_load": 0.5, "loaded": True}
    flag = report["loaded_flag"](1.7, 0.5, allow_loaded=True)
    assert report["flagged"](["a table"], flag) == [flag, "a table"]


def test_an_idle_machine_is_not_flagged(
    report: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.05, 0.1, 0.1))
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)
    results = report["main"](["--out", str(tmp_path), "--skip", *ALL_PARTS])
    text = capsys.readouterr().out
    assert "LOADED" not in text and "load average at the start: 0.05" in text
    assert results["load_average"]["loaded"] is False


# ---------------------------------------------------------------------------- devices


def cuda_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "out": tmp_path,
        "device": "cuda",
        "seed": 0,
        "threads": torch.get_num_threads(),
        "quick": True,
        "lecture_epochs": {"generation": 1},
        "lecture_lrs": {},
    }
    return Settings(**{**values, **changes})


def test_sides_are_labelled_cross_device_or_cross_precision() -> None:
    cpu = Run("lecture loop", [1.0], {NLL.key: [2.0]})
    gpu = Run("seqlearn default", [0.5], {NLL.key: [1.5]}, device="cuda", precision="bfloat16")
    assert sides_line(cpu, gpu) == (
        "lecture loop (CPU, float32) vs seqlearn default (cuda, bfloat16): cross-device, the "
        "times compare devices as well as code"
    )
    gpu_lecture = Run("lecture", [1.0], {NLL.key: [2.0]}, device="cuda")
    assert pairing(gpu_lecture, gpu) == "cross-precision"
    assert pairing(cpu, Run("seqlearn default", [0.5], {})) == ""


def test_format_task_labels_every_cross_device_comparison() -> None:
    lecture = Run("lecture loop", [20.0], {NLL.key: [2.0]})
    ours = Run("seqlearn default", [4.0, 4.0], {NLL.key: [2.1, 1.9]}, device="cuda")
    ours.precision = "bfloat16"
    lines = format_task(TaskResult("a task", [NLL], lecture, ours, 5))
    assert all(len(line) <= 100 for line in lines)
    text = " ".join(" ".join(lines).split())  # as one line
    assert "lecture loop (CPU, float32) vs seqlearn default (cuda, bfloat16): cross-device" in text
    assert text.count("NLL: ") == 2 and text.count("[cross-device]") == 2
    same = TaskResult("a task", [NLL], lecture, Run("seqlearn default", [4.0], {NLL.key: [1.9]}), 5)
    text = "\n".join(format_task(same))
    assert "same device and precision" in text and "[cross" not in text


def test_cuda_settings_put_seqlearn_in_bfloat16_and_lectures_in_float32(tmp_path: Path) -> None:
    settings = cuda_settings(tmp_path)
    metrics = {"epoch_seconds": [1.0], "valid_nll": [2.0]}
    ours = seqlearn_run("seqlearn default", metrics, [NLL], settings)
    lecture = lecture_run("lecture", metrics, [NLL], settings)
    assert (ours.device, ours.precision) == ("cuda", "bfloat16")
    assert (lecture.device, lecture.precision) == ("cuda", "float32")
    assert pairing(lecture, ours) == "cross-precision"
    assert seqlearn_precision(cuda_settings(tmp_path, device="cpu")) == "float32"


def test_run_example_passes_mixed_precision_to_seqlearns_side_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(script: Path, flags: list[str], log: Path, settings: Settings) -> float:
        calls.append(flags)
        folder = Path(flags[flags.index("--out") + 1])
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text('{"epoch_seconds": [1.0]}', encoding="utf-8")
        return 1.0

    monkeypatch.setattr(_report_runs, "run_script", fake_run)
    settings = cuda_settings(tmp_path)
    _report_runs.run_example("sentiment", [], tmp_path / "ours", settings)
    _report_runs.run_example("sentiment", ["--lecture"], tmp_path / "lecture", settings)
    assert "--mixed-precision" in calls[0] and "--mixed-precision" not in calls[1]
    assert all(flags[flags.index("--device") + 1] == "cuda" for flags in calls)


def test_generation_lecture_runs_on_the_cpu_on_the_reports_threads(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    threads = torch.get_num_threads()
    settings = cuda_settings(tmp_path, data_dir=shared_data_dir, lecture_one_thread=True)
    run = generation_lecture(settings)
    assert (run.device, run.precision) == ("cpu", "float32")  # cross-device beside cuda
    assert f"{threads} threads (as seqlearn's side)" in run.notes[0]
    assert "on 1 thread" in run.notes[1] and "not compared" in run.notes[1]
    assert torch.get_num_threads() == threads


# ---------------------------------------------------------------------------- comparisons


def test_time_to_reach_an_accuracy() -> None:
    reached = time_to_reach([3.0, 2.0, 4.0], [0.5, 0.71, 0.9], 0.7, higher_is_better=True)
    assert reached is not None
    assert (reached.epoch, reached.seconds, reached.quality) == (2, 5.0, 0.71)


def test_time_to_reach_a_loss_counts_an_equal_figure() -> None:
    reached = time_to_reach([1.0, 1.0, 1.0], [2.9, 2.4, 2.0], 2.4, higher_is_better=False)
    assert reached is not None and (reached.epoch, reached.seconds) == (2, 2.0)


def test_time_to_reach_none_when_never_reached_or_unmeasured() -> None:
    assert time_to_reach([1.0, 1.0], [0.5, 0.6], 0.7, higher_is_better=True) is None
    assert time_to_reach([1.0, 1.0], [None, None], 0.1, higher_is_better=True) is None
    reached = time_to_reach([1.0, 1.0], [None, 0.8], 0.7, higher_is_better=True)
    assert reached is not None and reached.epoch == 2


def test_quality_in_time_takes_the_last_epoch_within_the_budget() -> None:
    within = quality_in_time([2.0, 2.0, 2.0], [1.9, 1.7, 1.6], 5.0)
    assert within is not None and (within.epoch, within.seconds, within.quality) == (2, 4.0, 1.7)


def test_quality_in_time_counts_an_epoch_ending_on_the_budget() -> None:
    seconds = [0.1, 0.2, 0.3]
    within = quality_in_time(seconds, [0.5, 0.6, 0.7], sum(seconds))
    assert within is not None and within.epoch == 3


def test_quality_in_time_whole_run_when_shorter() -> None:
    within = quality_in_time([1.0, 1.0], [0.6, 0.8], 100.0)
    assert within is not None and (within.epoch, within.quality) == (2, 0.8)


def test_quality_in_time_none_when_the_first_epoch_is_longer() -> None:
    assert quality_in_time([10.0, 10.0], [0.6, 0.8], 5.0) is None


def test_histories_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one quality per epoch"):
        time_to_reach([1.0], [0.5, 0.6], 0.5, higher_is_better=True)
    with pytest.raises(ValueError, match="one quality per epoch"):
        quality_in_time([1.0, 2.0], [0.5], 1.0)


def test_format_task_states_both_comparisons() -> None:
    lecture = Run("lecture", [20.0, 20.0], {ACCURACY.key: [0.69, 0.71]})
    ours = Run("seqlearn default", [4.0, 4.0, 4.0], {ACCURACY.key: [0.67, 0.76, 0.79]})
    lines = format_task(TaskResult("a task", [ACCURACY], lecture, ours, 5))
    assert all(len(line) <= 100 for line in lines)
    text = " ".join(" ".join(lines).split())  # as one line
    assert "2 of 5" in text
    assert "after 8.0 s (epoch 2): 5.0x sooner than the lecture's 40.0 s" in text
    assert "reaches 0.7900 (epoch 3, the whole run, 12.0 s)" in text


def test_format_task_says_when_seqlearn_falls_short() -> None:
    lecture = Run("lecture", [1.0], {NLL.key: [1.5]})
    ours = Run("seqlearn default", [2.0, 2.0], {NLL.key: [2.0, 1.8]})
    text = " ".join(" ".join(format_task(TaskResult("a task", [NLL], lecture, ours, 5))).split())
    assert "does not reach the lecture's final 1.5000 in its 2 epochs (best 1.8000)" in text
    assert "no seqlearn epoch ends (the first takes 2.0 s)" in text


def test_a_shortened_lecture_run_is_labelled_extrapolated(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        out=tmp_path,
        device="cpu",
        seed=0,
        threads=1,
        quick=False,
        lecture_epochs={"generation": 2},
        lecture_lrs={},
    )
    notes = epochs_note(Run("lecture", [10.0, 12.0], {}), settings)
    assert len(notes) == 1
    assert "2 of its 5 epochs" in notes[0] and "about 55 s" in notes[0]
    assert "EXTRAPOLATED" in notes[0]
    assert epochs_note(Run("lecture", [10.0] * 5, {}), settings) == []


# ---------------------------------------------------------------------------- FLOPs


def test_forward_flops_by_hand() -> None:
    # GRU-256 over 18 + 32 inputs, 59 outputs: 2 * (768 * 50 + 768 * 256 + 256 * 59)
    gru = [("weight_ih", 768, 50), ("weight_hh", 768, 256), ("head", 59, 256)]
    assert forward_flops_per_character(gru) == 2 * (38_400 + 196_608 + 15_104)
    assert training_flops_per_character(gru) == 3 * 500_224


@pytest.mark.parametrize("kind", ["gru", "lstm-stack"])
def test_flop_count_matches_flop_counter_mode_on_a_tiny_model(kind: str) -> None:
    categories, embedding, hidden, vocab, rows, steps = 3, 4, 8, 7, 5, 6
    generator = torch.Generator().manual_seed(0)
    inputs = categories + embedding
    if kind == "gru":
        cell: Any = GRUCell(inputs, hidden, generator=generator)
        recurrent = [3 * hidden]  # rows of each layer's recurrent matrix
    else:
        cell = StackedCell(
            [LSTMCell(inputs, hidden, generator=generator), LSTMCell(hidden, hidden)],
            dropout=0.2,
        )
        recurrent = [4 * hidden, 4 * hidden]
    model = ConditionalLM(
        cell,
        vocab_size=vocab,
        num_categories=categories,
        embedding_dim=embedding,
        dropout=0.3,
        generator=generator,
    )
    matrices = weight_matrices(model)
    assert matrices[-1] == ("head.weight", vocab, hidden)
    assert [rows for name, rows, _ in matrices if "weight_hh" in name] == recurrent
    ids = torch.randint(vocab - 1, (rows, steps), generator=generator).tolist()
    batch = collate_next_token([(row, i % categories) for i, row in enumerate(ids)], eos_id=6)
    per_character = training_flops_per_character(matrices)
    # Equal lengths, so no padding; the zero initial state of each row needs no gradient.
    no_initial_gradient = rows * sum(2 * gates * hidden for gates in recurrent)
    assert counted_flops(model, batch) == per_character * rows * steps - no_initial_gradient
    assert all(parameter.grad is None for parameter in model.parameters())


def test_matmul_rate_is_a_positive_rate() -> None:
    rate = matmul_rate(torch.device("cpu"), 64, 1)
    assert math.isfinite(rate) and rate > 0
