"""benchmarks/peers.py: a ``--quick`` smoke run of seqlearn beside plain PyTorch.

On the real names data (skipped without it): the script's fairness checks must hold (equal
trainable parameters, the same optimiser, the same loss with seqlearn's weights copied into
the plain models) and every figure must come out. No timing is asserted. Keras is not
needed: without it, the script says how to install it and runs the rest.
"""

from __future__ import annotations

import json
import math
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "peers.py"
MODELS = ["classifier", "generator", "lecture"]


def names_data_dir() -> Path | None:
    """``$SEQLEARN_DATA``, else the shared data beside the checkout, if it holds names/."""
    for folder in (os.environ.get("SEQLEARN_DATA"), ROOT.parent / "shared" / "data"):
        if folder and (Path(folder).expanduser() / "names").is_dir():
            return Path(folder).expanduser()
    return None


@pytest.fixture(scope="module")
def peers_main() -> Callable[[list[str]], dict[str, Any]]:
    main: Callable[[list[str]], dict[str, Any]] = runpy.run_path(str(SCRIPT))["main"]
    return main


@pytest.fixture
def data_dir() -> Path:
    found = names_data_dir()
    if found is None:
        pytest.skip("no names data: set SEQLEARN_DATA to a folder holding names/")
    return found


@pytest.mark.timeout(180)
def test_quick_run_holds_the_fairness_checks(
    peers_main: Callable[[list[str]], dict[str, Any]],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "peers.json"
    flags = ["--quick", "--sides", "seqlearn", "torch", "--models", *MODELS]
    # one thread: with --threads 2 on a busy two-core machine torch's threads contend
    flags += ["--data-dir", str(data_dir), "--threads", "1", "--json", str(out)]
    figures = peers_main(flags)
    printed = capsys.readouterr().out
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(figures))
    assert figures["quick"] and figures["epochs"] == 1 and figures["keras"] is None
    for name in MODELS:
        result = figures["models"][name]
        counts = result["parameters"]["counts"]
        assert set(counts) == {"seqlearn", "plain torch"}
        assert result["parameters"]["equal"] and len(set(counts.values())) == 1
        assert result["optimizer"]["kind"] == ("SGD" if name == "lecture" else "Adam")
        assert result["same_loss_relative_difference"] < 1e-4
        for side in counts:
            assert len(result["epoch_seconds"][side]) == 1
            assert result["median_epoch_seconds"][side] > 0
            assert math.isfinite(result["train_loss"][side])
            quality = result["quality"][side]
            assert 0 <= quality <= 1 if name == "classifier" else 0 < quality < 10
        assert result["ratios"]["seqlearn / plain torch"] > 0
        assert f"{counts['seqlearn']:,}" in printed
    assert "seqlearn / plain torch" in printed and "load average at the end" in printed


def test_without_keras_it_says_how_to_install_it(
    peers_main: Callable[[list[str]], dict[str, Any]],
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow now fails
    for name in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL"):  # restored after the test
        monkeypatch.setenv(name, os.environ.get(name, ""))
    flags = ["--quick", "--models", "lecture", "--sides", "torch", "keras", "--threads", "1"]
    figures = peers_main([*flags, "--data-dir", str(data_dir)])
    printed = capsys.readouterr().out
    assert "keras: skipped" in printed and "pip install tensorflow-cpu keras" in printed
    assert list(figures["models"]["lecture"]["quality"]) == ["plain torch"]
