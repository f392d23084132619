"""The examples run end to end and keep their command-line contract."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NAMES_GENERATION = ROOT / "examples" / "names_generation.py"


def test_names_generation_help_lists_every_flag() -> None:
    result = subprocess.run(
        [sys.executable, str(NAMES_GENERATION), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in [
        "--data-dir",
        "--download",
        "--epochs",
        "--seed",
        "--cell",
        "--hidden-size",
        "--num-layers",
        "--out",
        "--no-progress",
    ]:
        assert flag in result.stdout


def test_names_generation_writes_metrics_and_model(shared_data_dir: Path, tmp_path: Path) -> None:
    module = runpy.run_path(str(NAMES_GENERATION))
    out = tmp_path / "run"
    args = ["--data-dir", str(shared_data_dir), "--epochs", "2", "--hidden-size", "16"]
    module["main"]([*args, "--embedding-dim", "0", "--no-progress", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["valid_nll"]) == len(metrics["epoch_seconds"]) == 2
    assert metrics["train_seconds"] == pytest.approx(sum(metrics["epoch_seconds"]))
    assert metrics["valid_nll"][1] < metrics["valid_nll"][0] < 3.5
    for name in ["model.pt", "tokenizer.json", "categories.json"]:
        assert (out / name).is_file()
    state_dict = torch.load(out / "model.pt", weights_only=True)
    assert state_dict["head.weight"].shape[0] == 59


def test_docs_show_the_current_help_text() -> None:
    result = subprocess.run(
        [sys.executable, str(NAMES_GENERATION), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "90"},
    )
    saved = ROOT / "docs" / "examples" / "names_generation_help.txt"
    assert saved.read_text() == result.stdout, (
        "docs/examples/names_generation_help.txt is stale; regenerate it with "
        "COLUMNS=90 python examples/names_generation.py --help"
    )
