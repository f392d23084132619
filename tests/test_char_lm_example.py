"""The character language model example (examples/char_lm.py): tiny runs on a text written
here, the artifact they save, the regularised and plain models, the time limit, its flags
and help text, and input that cannot train."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

import seqlearn
from seqlearn.artifacts import TextGenerator, read_artifact
from seqlearn.nn import ConditionalLM, WeightDrop

ROOT = Path(__file__).resolve().parents[1]
CHAR_LM = ROOT / "examples" / "char_lm.py"
HELP = ROOT / "docs" / "examples" / "char_lm_help.txt"
TINY = ["--hidden-size", "16", "--batch-size", "4", "--window", "16", "--epochs", "2"]
TINY += ["--length", "24", "--no-progress"]
METRICS = {"train_bpc", "valid_bpc", "train_seconds", "epoch_seconds", "final_valid_bpc"}
METRICS |= {"samples", "config"}
Strategy = Literal["greedy", "sample", "beam"]
SHOWN: dict[Strategy, int] = {"greedy": 1, "sample": 2, "beam": 2}  # texts per strategy
FLAGS = {
    "--help", "--text", "--valid", "--data-dir", "--download", "--alphabet", "--min-count",
    "--hidden-size", "--num-layers", "--embedding-dim", "--plain", "--weight-drop",
    "--dropout", "--word-dropout", "--alpha", "--beta", "--no-tie", "--epochs",
    "--max-seconds", "--batch-size", "--window", "--fixed-window", "--lr", "--clip-grad-norm",
    "--seed", "--out", "--resume", "--device", "--no-progress", "--prompt", "--length",
}  # fmt: skip
WORDS = [
    ["The cat", "A dog", "My sister", "The old man", "A child", "The bird"],
    ["sees", "likes", "finds", "wants", "holds", "eats"],
    ["the ball", "a red apple", "some bread", "the green hat", "the small box"],
]

Main = Callable[[list[str]], dict[str, Any]]


def sentences(count: int, seed: int) -> list[str]:
    """Simple English-like sentences, the same for the same seed."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for words in WORDS) + "." for _ in range(count)]


def load_main() -> Main:
    """The example's ``main``, loaded as the other examples' tests load theirs."""
    main: Main = runpy.run_path(str(CHAR_LM))["main"]
    return main


def read_metrics(out: Path) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    return metrics


def language_model(out: Path) -> tuple[TextGenerator, ConditionalLM[Any]]:
    """The artifact in ``out``, loaded, and its model."""
    generator = seqlearn.load(out)
    assert isinstance(generator, TextGenerator)
    assert isinstance(generator.model, ConditionalLM)
    return generator, generator.model


def assert_finite(values: list[float]) -> None:
    assert all(isinstance(value, float) and math.isfinite(value) for value in values), values


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A training text of 300 lines and a held-out text of 40."""
    folder = tmp_path_factory.mktemp("texts")
    paths = {"train": folder / "train.txt", "valid": folder / "valid.txt"}
    for path, count in zip(paths.values(), (300, 40)):
        path.write_text("\n".join(sentences(count, seed=count)) + "\n", encoding="utf-8")
    return paths


def sources(texts: dict[str, Path]) -> list[str]:
    return ["--text", str(texts["train"]), "--valid", str(texts["valid"])]


@pytest.fixture(scope="module")
def trained(
    texts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    """A tiny run of the default (regularised) model: its returned metrics and --out."""
    out = tmp_path_factory.mktemp("regularised")
    metrics = load_main()([*sources(texts), *TINY, "--out", str(out)])
    return metrics, out


@pytest.fixture(scope="module")
def help_run() -> subprocess.CompletedProcess[str]:
    """``COLUMNS=100 python examples/char_lm.py --help``, as the docs page shows it."""
    return subprocess.run(
        [sys.executable, str(CHAR_LM), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )


def test_help_exits_zero_and_lists_every_flag(
    help_run: subprocess.CompletedProcess[str],
) -> None:
    assert help_run.returncode == 0, help_run.stderr
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_run.stdout))
    assert shown == FLAGS
    source = CHAR_LM.read_text(encoding="utf-8")
    assert set(re.findall(r'add_argument\(\s*"(--[a-z-]+)"', source)) | {"--help"} == FLAGS


def test_docs_show_the_current_help_text(help_run: subprocess.CompletedProcess[str]) -> None:
    assert help_run.returncode == 0, help_run.stderr
    assert HELP.read_text(encoding="utf-8") == help_run.stdout, (
        "docs/examples/char_lm_help.txt is stale; regenerate it with "
        "COLUMNS=100 python examples/char_lm.py --help > docs/examples/char_lm_help.txt"
    )


def test_a_tiny_run_writes_every_metric_and_learns(
    trained: tuple[dict[str, Any], Path],
) -> None:
    metrics, out = trained
    assert read_metrics(out) == json.loads(json.dumps(metrics))
    assert set(metrics) == METRICS
    assert len(metrics["train_bpc"]) == len(metrics["valid_bpc"]) == 2
    assert len(metrics["epoch_seconds"]) == 2
    assert_finite([*metrics["train_bpc"], *metrics["valid_bpc"], metrics["final_valid_bpc"]])
    assert_finite([*metrics["epoch_seconds"], metrics["train_seconds"]])
    assert 0 < sum(metrics["epoch_seconds"]) <= metrics["train_seconds"]
    _, model = language_model(out)
    uniform = math.log2(model.vocab_size)  # bits per character of a model that knows nothing
    assert metrics["valid_bpc"][-1] < uniform
    assert metrics["final_valid_bpc"] == pytest.approx(metrics["valid_bpc"][-1], rel=1e-5)
    assert metrics["valid_bpc"][-1] < metrics["valid_bpc"][0]
    assert {name: len(shown) for name, shown in metrics["samples"].items()} == SHOWN
    assert all(text.startswith("The ") for shown in metrics["samples"].values() for text in shown)
    assert metrics["config"]["hidden_size"] == "16" and metrics["config"]["plain"] == "False"
    names = ["config.json", "model.safetensors", "tokenizer.json", "checkpoint.pt"]
    if importlib.util.find_spec("matplotlib") is not None:
        names.append("curves.png")
    for name in names:
        assert (out / name).is_file(), name


def test_the_artifact_loads_and_generates_from_the_prompt(
    trained: tuple[dict[str, Any], Path],
) -> None:
    metrics, out = trained
    generator, _ = language_model(out)
    assert generator.categories == ["text"]
    for strategy, n in SHOWN.items():
        texts = generator.generate(
            "text", n=n, prefix="The ", strategy=strategy, max_length=12, seed=0
        )
        assert len(texts) == n and all(text.startswith("The ") for text in texts), texts
    # the saved weights are the trained ones: the same greedy text as the run printed
    assert (
        generator.generate("text", prefix="The ", strategy="greedy", max_length=24)
        == (metrics["samples"]["greedy"])
    )
    assert read_artifact(out).metadata["metrics"]["train_bpc"] == metrics["train_bpc"]


def test_the_default_model_is_regularised_and_plain_turns_it_all_off(
    trained: tuple[dict[str, Any], Path], texts: dict[str, Path], tmp_path: Path
) -> None:
    _, regularised = language_model(trained[1])
    assert any(isinstance(module, WeightDrop) for module in regularised.modules())
    assert regularised.tie_weights
    assert regularised.token_embedding is not None
    assert regularised.head.weight is regularised.token_embedding.weight
    assert regularised.dropout > 0 and regularised.word_dropout > 0
    out = tmp_path / "plain"
    metrics = load_main()([*sources(texts), *TINY, "--plain", "--out", str(out)])
    assert_finite([*metrics["train_bpc"], *metrics["valid_bpc"]])
    _, plain = language_model(out)
    assert not any(isinstance(module, WeightDrop) for module in plain.modules())
    assert not plain.tie_weights
    assert plain.token_embedding is not None
    assert plain.head.weight is not plain.token_embedding.weight
    assert plain.dropout == 0 and plain.word_dropout == 0
    config = metrics["config"]
    assert config["plain"] == "True" and config["tie"] == "False"
    for name in ["weight_drop", "dropout", "word_dropout", "alpha", "beta"]:
        assert config[name] == "0.0", name
    saved = json.loads((out / "config.json").read_text(encoding="utf-8"))["model"]["config"]
    assert saved["tie_weights"] is False and saved["cell"]["class"] == "seqlearn.nn.StackedCell"
    assert all(cell["class"] == "seqlearn.nn.LSTMCell" for cell in saved["cell"]["config"]["cells"])


def test_untied_flags_are_accepted() -> None:
    parse = runpy.run_path(str(CHAR_LM))["parse_args"]
    for flags in (["--no-tie"], ["--plain"]):
        args = parse(["--hidden-size", "16", "--embedding-dim", "8", *flags])
        assert not args.tie and args.embedding_dim == 8
    args = parse(["--hidden-size", "16"])
    assert args.tie and args.embedding_dim == 16


def test_a_time_limit_stops_early_but_still_saves(texts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "limited"
    metrics = load_main()([*sources(texts), *TINY, "--max-seconds", "0.001", "--out", str(out)])
    assert read_metrics(out) == json.loads(json.dumps(metrics))
    assert set(metrics) == METRICS
    # stopped after the first step, inside the first epoch: no epoch finished
    assert metrics["train_bpc"] == metrics["valid_bpc"] == metrics["epoch_seconds"] == []
    assert not (out / "checkpoint.pt").exists()
    assert_finite([metrics["final_valid_bpc"], metrics["train_seconds"]])
    generator, _ = language_model(out)
    assert generator.generate("text", prefix="The ", max_length=5, seed=0)[0].startswith("The ")


def test_a_text_without_held_out_text(texts: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "text"
    metrics = load_main()(["--text", str(texts["train"]), *TINY, "--out", str(out)])
    assert set(metrics) == METRICS - {"final_valid_bpc"}
    assert read_metrics(out) == json.loads(json.dumps(metrics))
    assert metrics["valid_bpc"] == []
    assert len(metrics["train_bpc"]) == len(metrics["epoch_seconds"]) == 2
    assert_finite(metrics["train_bpc"])
    assert metrics["config"]["valid"] == "None"
    language_model(out)


BAD_INPUT: dict[str, tuple[list[str], str]] = {
    "an empty text": (["--text", "{empty}"], "holds no text"),
    "a text of empty lines": (["--text", "{blank}"], "holds no text"),
    "a missing text": (["--text", "{missing}"], "No such file or directory"),
    "an empty held-out text": (["--text", "{train}", "--valid", "{empty}"], "holds no text"),
    "a missing held-out text": (
        ["--text", "{train}", "--valid", "{missing}"],
        "No such file or directory",
    ),
    "--valid without --text": (["--valid", "{valid}"], "--valid needs --text"),
    "untied sizes": (
        ["--text", "{train}", "--embedding-dim", "8"],
        "tied weights need --embedding-dim equal to --hidden-size (or --no-tie)",
    ),
    "more streams than characters": (["--text", "{train}", "--batch-size", "99999"], "too short"),
    "no epoch": (["--text", "{train}", "--epochs", "0"], "--epochs must be at least 1, got 0"),
    "no time": (["--text", "{train}", "--max-seconds", "0"], "--max-seconds must be positive"),
    "no hidden units": (["--text", "{train}", "--hidden-size", "0"], "--hidden-size must be"),
    "no length": (["--text", "{train}", "--length", "0"], "--length must be at least 1"),
    "an empty prompt": (["--text", "{train}", "--prompt", ""], "has no character of the"),
    "a dropout of 1.5": (["--text", "{train}", "--dropout", "1.5"], "dropout must be in [0, 1)"),
    "an unknown device": (["--text", "{train}", "--device", "nope"], "not a device: 'nope'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_input_that_cannot_train_is_a_one_line_usage_error(
    case: str, texts: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "blank.txt").write_text("\n\n\n", encoding="utf-8")
    paths = {**texts, "empty": tmp_path / "empty.txt", "blank": tmp_path / "blank.txt"}
    paths["missing"] = tmp_path / "missing.txt"
    flags, message = BAD_INPUT[case]
    argv = [flag.format(**paths) for flag in flags]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        load_main()([*TINY[:6], "--no-progress", *argv, "--out", str(out)])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert errors == lines[-1:], lines  # one message, the last line
    assert message in errors[0]
    assert all(line.startswith(("usage: ", " ")) for line in lines[:-1]), lines  # argparse's
    assert not out.exists()  # stopped before training


def test_the_command_line_prints_one_line_for_an_empty_text(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(CHAR_LM), "--text", str(empty), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr == f"char_lm.py: error: {empty} holds no text\n"


def test_the_default_data_is_the_treebanks_sentences(tmp_path: Path) -> None:
    data = os.environ.get("SEQLEARN_DATA")
    if not data or not (Path(data) / "sst" / "train.txt").is_file():
        pytest.skip("no $SEQLEARN_DATA/sst/train.txt")
    out = tmp_path / "sst"
    flags = ["--hidden-size", "8", "--max-seconds", "2", "--epochs", "1", "--length", "16"]
    metrics = load_main()([*flags, "--no-progress", "--out", str(out)])
    assert set(metrics) == METRICS
    assert metrics["config"]["text"] == "None"
    assert len(metrics["train_bpc"]) <= 1
    assert_finite([*metrics["train_bpc"], metrics["final_valid_bpc"]])
    assert all(text.startswith("The ") for shown in metrics["samples"].values() for text in shown)
    language_model(out)
