"""The sentiment example runs end to end on small files and keeps its command-line contract."""

from __future__ import annotations

import csv
import json
import random
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import seqlearn
from seqlearn.data import SST_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "sentiment.py"
WORDS = {
    0: ["awful", "dreadful", "worst"],
    1: ["dull", "weak", "tired"],
    2: ["the", "film", "a", "movie"],
    3: ["nice", "decent", "fine"],
    4: ["great", "superb", "best"],
}


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


def _sentences(count: int, seed: int) -> list[tuple[list[str], int]]:
    rng = random.Random(seed)
    return [
        (
            [*rng.sample(WORDS[2], 2), *rng.sample(WORDS[label], 2)],
            label,
        )
        for label in (rng.randrange(5) for _ in range(count))
    ]


def _write_tsv(path: Path, sentences: list[tuple[list[str], int]], labels: bool = True) -> Path:
    """A Kaggle-style TSV: each sentence, then its last two words as a phrase."""
    rows = []
    phrase_id = 1
    for sentence_id, (words, label) in enumerate(sentences, start=1):
        for phrase in (" ".join(words), " ".join(words[2:])):
            rows.append([str(phrase_id), str(sentence_id), phrase, str(label)])
            phrase_id += 1
    header = ["PhraseId", "SentenceId", "Phrase", "Sentiment"]
    if not labels:
        header, rows = header[:3], [row[:3] for row in rows]
    text = "\n".join("\t".join(row) for row in [header, *rows]) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _write_glove(path: Path) -> Path:
    """A small Stanford-format vector file: every word, 4 numbers that hint its class."""
    lines = []
    for label, words in WORDS.items():
        for i, word in enumerate(words):
            values = [0.1 * i, float(label == 4) - float(label == 0), 0.5 * (label - 2), 0.3]
            lines.append(" ".join([word, *(f"{v:.3f}" for v in values)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    return {
        "train": _write_tsv(folder / "train.tsv", _sentences(120, 0)),
        "valid": _write_tsv(folder / "valid.tsv", _sentences(40, 1)),
        "test": _write_tsv(folder / "test.tsv", _sentences(30, 2)),
        "unlabelled": _write_tsv(folder / "kaggle_test.tsv", _sentences(10, 3), labels=False),
        "glove": _write_glove(folder / "glove.tiny.4d.txt"),
    }


def _args(files: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "--train", str(files["train"]), "--valid", str(files["valid"]),
        "--glove", str(files["glove"]), "--hidden-size", "8", "--batch-size", "16",
        "--epochs", "2", "--no-progress", "--out", str(out), *extra,
    ]  # fmt: skip


def test_help_lists_every_flag() -> None:
    text = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in [
        "--data-dir", "--train", "--valid", "--test", "--submission", "--glove", "--lecture",
        "--lr-grid", "--epochs", "--seed", "--hidden-size", "--batch-size", "--lr", "--out",
        "--no-progress", "--device", "--freeze-vectors", "--mixed-precision",
    ]:  # fmt: skip
        assert flag in text


def test_default_run_writes_metrics_model_and_curves(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    metrics = example["main"](_args(files, tmp_path, "--test", str(files["test"])))
    written = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert written.keys() == metrics.keys()
    for key in [
        "train_loss", "valid_loss", "train_accuracy", "valid_accuracy",
        "valid_sentence_accuracy", "test_accuracy", "test_sentence_accuracy",
    ]:  # fmt: skip
        assert len(written[key]) == 2, key
        assert all(0.0 <= value <= 1.0 for value in written[key] if "accuracy" in key)
    assert written["train_seconds"] > 0
    assert "divergent_lr" not in written
    for name in ("config.json", "model.safetensors", "tokenizer.json", "curves.png"):
        assert (tmp_path / name).is_file(), name
    classifier = seqlearn.load(tmp_path)
    assert isinstance(classifier, seqlearn.TextClassifier)
    assert classifier.labels == list(SST_CATEGORIES)
    assert written["valid_accuracy"][-1] > 0.4  # the words give the classes away


def test_lecture_mode_finds_a_divergent_rate(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    metrics = example["main"](
        _args(files, tmp_path, "--lecture", "--lr-grid", "0.1", "1", "3", "10", "30", "100", "1000")
    )
    assert metrics["divergent_lr"] in (3.0, 10.0, 30.0, 100.0, 1000.0)
    assert len(metrics["valid_accuracy"]) == 2
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["model"]
    cell = config["config"]["encoder"]["config"]["cell"]
    assert cell["class"] == "seqlearn.nn.LinearRecurrentCell"
    assert cell["config"]["hidden_size"] == 8


def test_submission_for_an_unlabelled_kaggle_file(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    submission = tmp_path / "submission.csv"
    metrics = example["main"](
        _args(files, tmp_path, "--test", str(files["unlabelled"]), "--submission", str(submission))
    )
    assert "test_accuracy" not in metrics
    with submission.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["PhraseId", "Sentiment"]
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(1, 21)]
    assert all(row[1] in {"0", "1", "2", "3", "4"} for row in rows[1:])


def test_sst_trees_are_accepted(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    trees = tmp_path / "train.txt"
    trees.write_text(
        "(4 (2 the) (4 (4 great) (4 superb)))\n(0 (2 a) (0 (0 awful) (0 worst)))\n"
        "(2 (2 the) (2 film))\n",
        encoding="utf-8",
    )
    args = _args(files, tmp_path / "out", "--epochs", "1")
    args[args.index("--train") + 1] = str(trees)
    metrics = example["main"](args)
    assert len(metrics["valid_sentence_accuracy"]) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--submission", "x.csv"], "--submission needs --test"),
        (["--lr-grid", "0.1"], "--lr-grid needs --lecture"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--mixed-precision", "--device", "cpu"], "--mixed-precision needs a CUDA device"),
    ],
)
def test_bad_flags_are_refused(
    extra: list[str], message: str, files: dict[str, Path], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *_args(files, tmp_path, *extra)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and message in result.stderr


def test_a_missing_file_says_how_to_get_it(
    example: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        example["main"](["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2  # one line on stderr, as for a bad flag
    error = capsys.readouterr().err
    assert error.startswith("sentiment.py: error: ") and error.count("\n") == 1
    assert "rotten_tomatoes/train.tsv" in error


def test_treebank_trees_in_the_data_dir_are_the_fallback(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    trees = tmp_path / "data" / "sst"
    trees.mkdir(parents=True)
    text = "(4 (2 the) (4 (4 great) (4 superb)))\n(0 (2 a) (0 (0 awful) (0 worst)))\n"
    for name in ("train.txt", "dev.txt"):
        (trees / name).write_text(text, encoding="utf-8")
    metrics = example["main"](
        ["--data-dir", str(tmp_path / "data"), "--glove", str(files["glove"]), "--epochs", "1",
         "--hidden-size", "4", "--no-progress", "--out", str(tmp_path / "out")]
    )  # fmt: skip
    assert metrics["config"]["train"].endswith("train.txt")
    assert len(metrics["valid_sentence_accuracy"]) == 1


def test_predict_loads_the_run_and_prints_sentiments(
    example: dict[str, Any], files: dict[str, Path], tmp_path: Path
) -> None:
    example["main"](_args(files, tmp_path, "--epochs", "1"))
    results = example["predict"](["--out", str(tmp_path), "a great film", "awful", "--top", "3"])
    assert list(results) == ["a great film", "awful"]
    for ranked in results.values():
        assert len(ranked) == 3
        assert all(label in SST_CATEGORIES for label, _ in ranked)
        assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
