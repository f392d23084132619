"""The examples run end to end and keep their command-line contract."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import seqlearn
from seqlearn.artifacts import read_artifact

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
    for name in ["config.json", "model.safetensors", "tokenizer.json"]:
        assert (out / name).is_file()
    generator = seqlearn.load(out)
    assert isinstance(generator, seqlearn.TextGenerator)
    assert generator.model.head.weight.shape[0] == 59
    assert len(generator.categories) == 18
    assert read_artifact(out).metadata["metrics"]["valid_nll"] == metrics["valid_nll"]


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


@pytest.fixture(scope="module")
def generation_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The example's functions, and a folder that a short training run wrote into."""
    value = os.environ.get("SEQLEARN_DATA")
    if not value or not Path(value).is_dir():
        pytest.skip("SEQLEARN_DATA is not set to the shared data folder")
    module = runpy.run_path(str(NAMES_GENERATION))
    out = tmp_path_factory.mktemp("generation")
    args = ["--data-dir", value, "--epochs", "1", "--hidden-size", "16", "--batch-size", "256"]
    module["main"]([*args, "--no-progress", "--out", str(out), "--start", "K", "Mo"])
    return module, out


def test_names_generation_help_lists_the_decoding_flags() -> None:
    result = subprocess.run(
        [sys.executable, str(NAMES_GENERATION), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for flag in [
        "--strategy",
        "--temperature",
        "--top-k",
        "--top-p",
        "--beam-width",
        "--num-samples",
        "--start",
        "generate",
    ]:
        assert flag in result.stdout


def test_generate_loads_the_saved_model_and_repeats_its_names(
    generation_run: tuple[dict[str, Any], Path],
) -> None:
    module, out = generation_run
    assert (out / "config.json").is_file()
    samples = json.loads((out / "metrics.json").read_text())["samples"]
    assert len(samples["Russian"]) == 4  # greedy K, sampled K, greedy Mo, sampled Mo
    assert [name[:2] for name in samples["Russian"]][2:] == ["Mo", "Mo"]
    # The same flags without retraining give the same greedy names (the sampled ones draw
    # other random numbers: fewer rows here, and the training run may have used a GPU).
    again = module["generate"](["--out", str(out), "Russian", "Japanese", "--start", "K", "Mo"])
    assert list(again) == ["Russian", "Japanese"]
    for language, names in again.items():
        assert names[::2] == samples[language][::2]
        assert [name[:1] for name in names] == ["K", "K", "M", "M"]


@pytest.mark.parametrize(
    ("flags", "per_start"),
    [
        (["--strategy", "greedy"], 1),
        (["--strategy", "sample", "--num-samples", "3", "--top-k", "5", "--top-p", "0.9"], 3),
        (["--strategy", "beam", "--beam-width", "4", "--num-samples", "2"], 2),
    ],
)
def test_generate_decodes_with_each_strategy(
    generation_run: tuple[dict[str, Any], Path], flags: list[str], per_start: int
) -> None:
    module, out = generation_run
    argv = ["--out", str(out), "German", "Italian", "--start", "B", "Ro", *flags]
    names = module["generate"](argv)
    assert list(names) == ["German", "Italian"]
    for shown in names.values():
        assert len(shown) == 2 * per_start
        assert all(name.startswith("B") for name in shown[:per_start])
        assert all(name.startswith("Ro") for name in shown[per_start:])
    assert module["generate"](argv) == names  # seeded: the same names again


def test_generate_runs_from_the_command_line(generation_run: tuple[dict[str, Any], Path]) -> None:
    _, out = generation_run
    result = subprocess.run(
        [sys.executable, str(NAMES_GENERATION), "generate", "--out", str(out), "Korean"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Korean" in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--top-p", "0"], "top_p in (0, 1], got 0.0"),
        (["--top-k", "0"], "top_k >= 1, got 0"),
        (["--temperature", "0"], "positive, finite temperature, got 0.0"),
        (["--temperature", "nan"], "positive, finite temperature, got nan"),
        (["--beam-width", "0"], "--beam-width >= 1, got 0"),
        (["--num-samples", "0"], "--num-samples >= 1, got 0"),
        (["--strategy", "beam", "--num-samples", "5"], "needs --beam-width >= 5"),
        (["--strategy", "greedy", "--num-samples", "2"], "needs --strategy sample or beam"),
    ],
)
def test_bad_decoding_flags_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = runpy.run_path(str(NAMES_GENERATION))
    for parse in (module["parse_args"], module["parse_generate_args"]):
        with pytest.raises(SystemExit) as raised:
            parse(flags)
        assert raised.value.code == 2
        assert message in capsys.readouterr().err


def test_mixed_precision_needs_cuda() -> None:
    result = subprocess.run(
        [sys.executable, str(NAMES_GENERATION), "--mixed-precision", "--device", "cpu"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--mixed-precision needs a CUDA device" in result.stderr
