"""The names classification example runs end to end and keeps its command-line contract."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import seqlearn

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "names_classification.py"
SMALL = ["--epochs", "2", "--hidden-size", "16", "--embedding-dim", "8", "--no-progress"]


def run_help(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return result.stdout


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, example: dict[str, Any]) -> Path:
    """A short default-mode run on the names data, shared by the tests that read it."""
    value = os.environ.get("SEQLEARN_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("SEQLEARN_DATA is not set to the shared data folder")
    out = tmp_path_factory.mktemp("run")
    example["main"](["--data-dir", value, *SMALL, "--batch-size", "128", "--out", str(out)])
    return out


def test_help_lists_every_flag() -> None:
    text = run_help()
    for flag in [
        "--help",
        "--data-dir",
        "--categories-dir",
        "--download",
        "--lecture",
        "--lr-grid",
        "--epochs",
        "--seed",
        "--hidden-size",
        "--batch-size",
        "--lr",
        "--out",
        "--no-progress",
        "predict",
    ]:
        assert flag in text


def test_docs_show_the_current_help_text() -> None:
    saved = ROOT / "docs" / "examples" / "names_classification_help.txt"
    assert saved.read_text() == run_help(COLUMNS="90"), (
        "docs/examples/names_classification_help.txt is stale; regenerate it with "
        "COLUMNS=90 python examples/names_classification.py --help"
    )


def test_writes_metrics_confusion_and_model(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    assert len(metrics["train_accuracy"]) == len(metrics["valid_accuracy"]) == 2
    assert metrics["train_seconds"] == pytest.approx(sum(metrics["epoch_seconds"]))
    assert "divergent_lr" not in metrics
    assert 0.3 < metrics["valid_accuracy"][-1] <= 1.0  # 18 languages: chance is far below
    confusion = json.loads((trained / "confusion.json").read_text())
    counts = torch.tensor(confusion["counts"])
    classifier = seqlearn.load(trained)
    assert isinstance(classifier, seqlearn.TextClassifier)
    assert confusion["categories"] == classifier.labels
    assert counts.shape == (18, 18)
    assert int(counts.sum()) == 4017  # 20% of each language
    accuracy = float(counts.trace()) / float(counts.sum())
    assert accuracy == pytest.approx(metrics["valid_accuracy"][-1], abs=1e-9)
    for name in ["config.json", "model.safetensors", "tokenizer.json"]:
        assert (trained / name).is_file()
    assert classifier.model.state_dict()["head.weight"].shape == (18, 32)  # two directions


def test_predict_prints_the_top_three_sorted(trained: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "predict", "--out", str(trained), "Nakamura", "Dvořák"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert [line for line in lines if not line.startswith("  ")] == ["Nakamura", "Dvořák"]
    rows = [line.split() for line in lines if line.startswith("  ")]
    assert len(rows) == 6
    categories = seqlearn.load(trained).labels
    for name_rows in (rows[:3], rows[3:]):
        probabilities = [float(p) for p, _ in name_rows]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-3  # printed rounded to 3 places
        assert all(category in categories for _, category in name_rows)


def test_lecture_mode_finds_the_divergent_rate(
    shared_data_dir: Path, tmp_path: Path, example: dict[str, Any]
) -> None:
    out = tmp_path / "lecture"
    grid = ["--lr-grid", "0.25", "2"]  # 2 diverges in one epoch; a quarter of it trains
    options = ["--epochs", "1", "--batch-size", "256", "--hidden-size", "16", "--no-progress"]
    metrics = example["main"](
        ["--data-dir", str(shared_data_dir), "--lecture", *grid, *options, "--out", str(out)]
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["divergent_lr"] == metrics["divergent_lr"] == 2.0
    assert saved["config"]["lr"] == "0.5"
    assert len(saved["train_accuracy"]) == len(saved["valid_accuracy"]) == 1
    encoder = json.loads((out / "config.json").read_text())["model"]["config"]["encoder"]
    assert encoder["config"]["cell"]["class"] == "seqlearn.nn.LinearRecurrentCell"


def test_user_categories_folder(tmp_path: Path, example: dict[str, Any]) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    words = {
        "birds": ["robin", "sparrow", "finch", "wren", "heron", "eagle"],
        "fish": ["salmon", "trout", "cod", "herring", "perch", "pike"],
        "trees": ["oak", "birch", "maple", "willow", "cedar", "pine"],
    }
    for category, lines in words.items():
        (folder / f"{category}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    metrics = example["main"](["--categories-dir", str(folder), *SMALL, "--out", str(out)])
    assert len(metrics["valid_accuracy"]) == 2
    assert seqlearn.load(out).labels == ["birds", "fish", "trees"]
    counts = json.loads((out / "confusion.json").read_text())["counts"]
    assert sum(map(sum, counts)) == 3  # one of each category's six held out
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "predict", "--out", str(out), "swallow"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert len(result.stdout.splitlines()) == 4  # the name, then three categories


def test_mixed_precision_needs_cuda() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mixed-precision", "--device", "cpu"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--mixed-precision needs a CUDA device" in result.stderr
