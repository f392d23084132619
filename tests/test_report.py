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

from _report_compare import (  # noqa: E402
    Quality,
    Run,
    TaskResult,
    format_task,
    quality_in_time,
    time_to_reach,
)
from _report_efficiency import (  # noqa: E402
    counted_flops,
    forward_flops_per_character,
    matmul_rate,
    model_sizes,
    training_flops_per_character,
)
from _report_runs import Settings, epochs_note  # noqa: E402

from seqlearn.data.batching import collate_next_token  # noqa: E402
from seqlearn.nn import ConditionalLM, GRUCell  # noqa: E402

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
    assert forward_flops_per_character(50, 256, 59) == 2 * (38_400 + 196_608 + 15_104)
    assert training_flops_per_character(50, 256, 59) == 3 * 500_224


def test_flop_count_matches_flop_counter_mode_on_a_tiny_model() -> None:
    categories, embedding, hidden, vocab, rows, steps = 3, 4, 8, 7, 5, 6
    generator = torch.Generator().manual_seed(0)
    model = ConditionalLM(
        GRUCell(categories + embedding, hidden, generator=generator),
        vocab_size=vocab,
        num_categories=categories,
        embedding_dim=embedding,
        dropout=0.3,
        generator=generator,
    )
    assert model_sizes(model) == (categories + embedding, hidden, vocab)
    ids = torch.randint(vocab - 1, (rows, steps), generator=generator).tolist()
    batch = collate_next_token([(row, i % categories) for i, row in enumerate(ids)], eos_id=6)
    per_character = training_flops_per_character(*model_sizes(model))
    # Equal lengths, so no padding; the zero initial state of each row needs no gradient.
    no_initial_gradient = rows * 2 * 3 * hidden * hidden
    assert counted_flops(model, batch) == per_character * rows * steps - no_initial_gradient
    assert all(parameter.grad is None for parameter in model.parameters())


def test_matmul_rate_is_a_positive_rate() -> None:
    rate = matmul_rate(torch.device("cpu"), 64, 1)
    assert math.isfinite(rate) and rate > 0
