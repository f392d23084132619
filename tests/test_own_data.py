"""Your own data end to end (issue 12, points 1, 2 and 5): every example trains on a folder
or file built here, with an alphabet learned from it; data that cannot train stops at once
with one line on stderr and exit status 2."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import seqlearn
from seqlearn.artifacts import TextClassifier, TextGenerator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUSSIAN = ["Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев",
           "Соколов", "Михайлов", "Новиков", "Федоров", "Морозов", "Волков", "Лебедев"]  # fmt: skip
JAPANESE = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
            "吉田", "山田", "佐々木", "山口"]  # fmt: skip
SMALL = ["--epochs", "2", "--hidden-size", "16", "--batch-size", "8", "--no-progress"]


@pytest.fixture
def surnames(tmp_path: Path) -> Path:
    """A user's folder of surnames in Cyrillic and Japanese scripts."""
    folder = tmp_path / "surnames"
    folder.mkdir()
    (folder / "Russian.txt").write_text("\n".join(RUSSIAN) + "\n", encoding="utf-8")
    (folder / "Japanese.txt").write_text("\n".join(JAPANESE) + "\n", encoding="utf-8")
    return folder


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True
    )


def _example(script: str) -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLES / script))


def test_the_generator_trains_on_a_folder_of_other_scripts(surnames: Path, tmp_path: Path) -> None:
    out = tmp_path / "generator"
    metrics = _example("names_generation.py")["main"](
        ["--categories-dir", str(surnames), *SMALL, "--out", str(out)]
    )
    assert len(metrics["valid_nll"]) == 2
    generator = seqlearn.load(out)
    assert isinstance(generator, TextGenerator)
    assert generator.categories == ["Japanese", "Russian"]
    alphabet = set(generator.tokenizer.alphabet)  # type: ignore[attr-defined]
    assert {"И", "в", "佐", "々"} <= alphabet  # learned, not folded away
    for language, names in metrics["samples"].items():
        assert language in ("Japanese", "Russian")
        assert all(set(name) <= alphabet for name in names)  # never an unknown character
    starts = {name[0] for name in RUSSIAN + JAPANESE}
    assert all(name[0] in starts for names in metrics["samples"].values() for name in names)


def test_a_users_folder_named_like_the_names_data_is_not_digest_checked(tmp_path: Path) -> None:
    folder = tmp_path / "names"  # the names data's own file names, other content
    folder.mkdir()
    for language in ("English", "French"):
        lines = [f"{language[:3]}{suffix}" for suffix in "abcdefghij"]
        (folder / f"{language}.txt").write_text("\n".join(lines), encoding="utf-8")
    result = _run("names_generation.py", "--categories-dir", str(folder), *SMALL, "--out",
                  str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "held-out NLL" in result.stdout


def test_the_classifier_trains_on_a_folder_and_predicts_other_scripts(
    surnames: Path, tmp_path: Path
) -> None:
    out = tmp_path / "classifier"
    metrics = _example("names_classification.py")["main"](
        ["--categories-dir", str(surnames), *SMALL, "--out", str(out)]
    )
    assert len(metrics["valid_accuracy"]) == 2
    classifier = seqlearn.load(out)
    assert isinstance(classifier, TextClassifier)
    assert classifier.labels == ["Japanese", "Russian"]
    predictions = classifier.predict(["Смирнова", "山田", "Ωμέγα"])  # unseen letters: UNK
    assert len(predictions) == 3
    result = _run("names_classification.py", "predict", "--out", str(out), "Волкова", "鈴木")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Волкова"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_the_classifier_takes_a_delimited_or_json_lines_file(suffix: str, tmp_path: Path) -> None:
    rows = [(name, "Russian") for name in RUSSIAN] + [(name, "Japanese") for name in JAPANESE]
    path = tmp_path / f"surnames{suffix}"
    if suffix == ".jsonl":
        lines = [json.dumps({"name": n, "lang": lang}, ensure_ascii=False) for n, lang in rows]
    else:
        separator = "," if suffix == ".csv" else "\t"
        lines = [f"name{separator}lang"] + [f"{n}{separator}{lang}" for n, lang in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    _example("names_classification.py")["main"](
        ["--data", str(path), "--text-column", "name", "--label-column", "lang", *SMALL,
         "--out", str(out)]
    )  # fmt: skip
    assert seqlearn.load(out).labels == ["Japanese", "Russian"]


def test_the_lecture_alphabet_stays_the_default_for_the_names_data(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "names"
    _example("names_classification.py")["main"](
        ["--data-dir", str(shared_data_dir), "--epochs", "1", "--hidden-size", "8",
         "--batch-size", "512", "--no-progress", "--out", str(out)]
    )  # fmt: skip
    tokenizer = seqlearn.load(out).tokenizer
    assert tokenizer.to_dict()["alphabet"] == seqlearn.tokenize.ASCII_LETTERS_ALPHABET


def test_the_sentiment_example_takes_a_users_files(tmp_path: Path, files: dict[str, Path]) -> None:
    reviews = tmp_path / "reviews.jsonl"
    good = ["great film", "a superb story", "great acting", "superb and great", "a great joy"]
    bad = ["awful film", "a dull story", "awful acting", "dull and awful", "a dull mess"]
    rows = [{"review": t, "verdict": "good"} for t in good] + [
        {"review": t, "verdict": "bad"} for t in bad
    ]
    reviews.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    out = tmp_path / "out"
    metrics = _example("sentiment.py")["main"](
        ["--data", str(reviews), "--text-column", "review", "--label-column", "verdict",
         "--glove", str(files["glove"]), "--epochs", "2", "--hidden-size", "4",
         "--no-progress", "--out", str(out)]
    )  # fmt: skip
    assert len(metrics["valid_accuracy"]) == 2
    assert seqlearn.load(out).labels == ["bad", "good"]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "good.txt").write_text("\n".join(good), encoding="utf-8")
    (folder / "bad.txt").write_text("\n".join(bad), encoding="utf-8")
    result = _run("sentiment.py", "--categories-dir", str(folder), "--glove", str(files["glove"]),
                  "--epochs", "1", "--hidden-size", "4", "--no-progress", "--out",
                  str(tmp_path / "out2"))  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A tiny GloVe text file covering the reviews' words."""
    words = ["great", "film", "a", "superb", "story", "acting", "and", "joy", "awful", "dull",
             "mess"]  # fmt: skip
    glove = tmp_path / "glove.txt"
    glove.write_text(
        "\n".join(f"{w} {i / 10:.1f} {-i / 10:.1f} 0.5" for i, w in enumerate(words)) + "\n",
        encoding="utf-8",
    )
    return {"glove": glove}


# Data that cannot train


def _folder(tmp_path: Path, name: str, contents: dict[str, list[str]]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for category, lines in contents.items():
        (folder / f"{category}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


FIVE = ["Smith", "Jones", "Brown", "Taylor", "Wilson"]
CASES = {
    "one category": ({"English": ["Smith", "Jones"]}, "at least 2 are needed"),
    "too small to split": (
        {"English": FIVE, "Chinese": ["Li", "Wang"]},
        "none of them is held out",
    ),
    "an empty file": ({"English": FIVE, "Irish": [""]}, "holds no text"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("script", ["names_classification.py", "sentiment.py"])
def test_data_that_cannot_train_stops_at_once_with_one_line(
    case: str, script: str, tmp_path: Path
) -> None:
    contents, message = CASES[case]
    folder = _folder(tmp_path, "data", contents)
    result = _run(script, "--categories-dir", str(folder), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert result.stderr.startswith(f"{script}: error: ") and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_generator_takes_one_category_but_not_one_too_small(tmp_path: Path) -> None:
    ok = _folder(tmp_path, "ok", {"English": FIVE * 2})
    result = _run("names_generation.py", "--categories-dir", str(ok), *SMALL, "--out",
                  str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    small = _folder(tmp_path, "small", {"English": ["Smith", "Jones"]})
    result = _run("names_generation.py", "--categories-dir", str(small), "--out",
                  str(tmp_path / "out2"))  # fmt: skip
    assert result.returncode == 2 and "none of them is held out" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["names_classification.py", "names_generation.py"])
def test_texts_outside_the_lecture_alphabet_say_to_learn_the_alphabet(
    script: str, surnames: Path, tmp_path: Path
) -> None:
    result = _run(script, "--categories-dir", str(surnames), "--alphabet", "lecture", "--out",
                  str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2
    assert "has a character of the alphabet" in result.stderr
    assert "--alphabet data" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["names_classification.py", "names_generation.py"])
def test_missing_data_is_one_line_too(script: str, tmp_path: Path) -> None:
    for flags in (["--data", str(tmp_path / "none.csv")], ["--data-dir", str(tmp_path)]):
        result = _run(script, *flags, "--out", str(tmp_path / "out"))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
