"""Every example checkpoints each epoch into --out, and --resume after a kill reaches the
same weights and per-epoch figures as an uninterrupted run."""

from __future__ import annotations

import json
import random
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

import seqlearn
from seqlearn.train import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EPOCHS = 3
LECTURE = ["--lecture", "--lr", "0.1"]  # the lecture's model and plain SGD, no search
PER_EPOCH = {
    "char_lm": ["train_bpc", "valid_bpc"],
    "names_generation": ["valid_nll", "train_loss"],
    "names_classification": ["train_loss", "valid_loss", "train_accuracy", "valid_accuracy"],
    "sentiment": [
        "train_loss", "valid_loss", "train_accuracy", "valid_accuracy",
        "valid_sentence_accuracy",
    ],
}  # fmt: skip
SENTIMENT_WORDS = {
    0: ["awful", "dreadful", "worst"],
    1: ["dull", "weak", "tired"],
    2: ["the", "film", "a", "movie"],
    3: ["nice", "decent", "fine"],
    4: ["great", "superb", "best"],
}
CHAR_LM_WORDS = [
    ["The cat", "A dog", "My sister", "The old man", "A child"],
    ["sees", "likes", "finds", "wants", "holds"],
    ["the ball", "a red apple", "some bread", "the green hat"],
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny category folder, tiny sentiment files with their word vectors, and a tiny
    text for the character language model."""
    folder = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    names = folder / "names"
    names.mkdir()
    for category, letters in {"abc": "abcde", "klm": "klmno", "xyz": "vwxyz"}.items():
        lines = {"".join(rng.choices(letters, k=rng.randint(3, 8))).title() for _ in range(24)}
        (names / f"{category}.txt").write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
    for split, count in (("train", 32), ("valid", 10)):
        rows = ["PhraseId\tSentenceId\tPhrase\tSentiment"]
        for sentence in range(count):
            label = rng.randrange(5)
            words = [*rng.sample(SENTIMENT_WORDS[2], 2), *rng.sample(SENTIMENT_WORDS[label], 2)]
            rows.append(f"{2 * sentence + 1}\t{sentence + 1}\t{' '.join(words)}\t{label}")
            rows.append(f"{2 * sentence + 2}\t{sentence + 1}\t{' '.join(words[2:])}\t{label}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    vectors = [
        " ".join([word, f"{0.1 * i:.1f}", f"{0.5 * (label - 2):.1f}", "0.3"])
        for label, words in SENTIMENT_WORDS.items()
        for i, word in enumerate(words)
    ]
    (folder / "glove.tiny.3d.txt").write_text("\n".join(vectors) + "\n", encoding="utf-8")
    for split, count in (("char_train", 300), ("char_valid", 30)):
        text = [" ".join(rng.choice(words) for words in CHAR_LM_WORDS) + "." for _ in range(count)]
        (folder / f"{split}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    return folder


def flags(example: str, data: Path) -> list[str]:
    """Short runs on the tiny data; batches small enough that a kill lands inside a run."""
    common = ["--epochs", str(EPOCHS), "--hidden-size", "16", "--batch-size", "6"]
    if example == "sentiment":
        sources = ["--train", str(data / "train.tsv"), "--valid", str(data / "valid.tsv")]
        sources += ["--glove", str(data / "glove.tiny.3d.txt")]
        return [*sources, *common, "--no-progress"]
    if example == "char_lm":
        sources = ["--text", str(data / "char_train.txt"), "--valid", str(data / "char_valid.txt")]
        return [*sources, *common, "--window", "16", "--length", "20", "--no-progress"]
    return ["--categories-dir", str(data / "names"), *common, "--no-progress"]


def run(example: str) -> Callable[[list[str]], dict[str, Any]]:
    """The example's ``main``, loaded as the tests of each example load it."""
    main: Callable[[list[str]], dict[str, Any]]
    main = runpy.run_path(str(EXAMPLES / f"{example}.py"))["main"]
    return main


def run_process(example: str, argv: list[str]) -> None:
    """Run the example to its end in a fresh process."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{example}.py"), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def kill_after_first_checkpoint(example: str, argv: list[str], out: Path) -> None:
    """Start the example in a process and SIGKILL it once its first checkpoint is written
    and a little of the next epoch has run."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{example}.py"), *argv, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    checkpoint = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    # A few milliseconds into the next epoch: the tiny lecture runs take tens of
    # milliseconds an epoch, so a longer wait could see the run finish first.
    time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert not (out / "metrics.json").exists()  # it did not finish
    assert 1 <= load_checkpoint(checkpoint)["epoch"] < EPOCHS


def assert_same_run(example: str, first: Path, second: Path) -> None:
    """Bit-identical weights, and the same per-epoch figures, in two --out folders."""
    weights, again = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert weights.keys() == again.keys()
    for name, tensor in weights.items():
        assert again[name].dtype == tensor.dtype and again[name].equal(tensor), name
    metrics = json.loads((first / "metrics.json").read_text(encoding="utf-8"))
    resumed = json.loads((second / "metrics.json").read_text(encoding="utf-8"))
    assert metrics.keys() == resumed.keys()
    for key in PER_EPOCH[example]:
        assert len(metrics[key]) == EPOCHS and resumed[key] == metrics[key], key
    assert len(resumed["epoch_seconds"]) == EPOCHS
    seqlearn.load(second)  # still a loadable artifact


@pytest.mark.parametrize(
    ("example", "mode"),
    [
        *(pytest.param(example, [], id=example) for example in sorted(PER_EPOCH)),
        pytest.param("names_classification", LECTURE, id="names_classification-lecture"),
        pytest.param("sentiment", LECTURE, id="sentiment-lecture"),
    ],
)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_run_resumes_to_the_uninterrupted_weights(
    example: str, mode: list[str], data: Path, tmp_path: Path
) -> None:
    # Every run in a fresh process, as users run the examples: the test process's own
    # torch settings, left by other tests, must not enter the comparison.
    argv = [*flags(example, data), *mode]
    run_process(example, [*argv, "--out", str(tmp_path / "whole")])
    assert (tmp_path / "whole" / "checkpoint.pt").is_file()  # kept after a finished run
    kill_after_first_checkpoint(example, argv, tmp_path / "killed")
    run_process(example, [*argv, "--out", str(tmp_path / "killed"), "--resume"])
    assert_same_run(example, tmp_path / "whole", tmp_path / "killed")
    run_process(example, [*argv, "--out", str(tmp_path / "whole"), "--resume"])  # saved again
    assert_same_run(example, tmp_path / "killed", tmp_path / "whole")


@pytest.mark.parametrize("example", ["names_classification", "sentiment"])
def test_lecture_mode_resumes_without_searching_again(
    example: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = run(example)
    grid = ["--lr-grid", "0.1", "0.3", "1", "3", "10", "30", "100", "1000"]
    argv = [*flags(example, data), "--lecture", *grid, "--epochs", "1"]
    out = tmp_path / "lecture"
    metrics = main([*argv, "--out", str(out)])
    first = load_file(out / "model.safetensors")
    capsys.readouterr()
    again = main([*argv, "--out", str(out), "--resume"])
    assert "finding the divergent learning rate" not in capsys.readouterr().out
    assert again["divergent_lr"] == metrics["divergent_lr"]
    assert again["config"]["lr"] == metrics["config"]["lr"]
    resumed = load_file(out / "model.safetensors")
    assert all(resumed[name].equal(tensor) for name, tensor in first.items())


@pytest.mark.parametrize("example", sorted(PER_EPOCH))
def test_resume_without_a_checkpoint_is_a_usage_error(
    example: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run(example)([*flags(example, data), "--out", str(tmp_path / "empty"), "--resume"])
    assert stopped.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0
    assert f"{example}.py: error: --resume: no checkpoint" in message
    assert "checkpoint.pt" in message


@pytest.mark.parametrize("example", sorted(PER_EPOCH))
def test_resume_refuses_other_settings(
    example: str, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main, argv, out = run(example), flags(example, data), tmp_path / "run"
    short = [*argv[: argv.index("--epochs")], "--epochs", "1", *argv[argv.index("--epochs") + 2 :]]
    main([*short, "--out", str(out)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main([*short, "--out", str(out), "--resume", "--seed", "3", "--lr", "0.01"])
    assert stopped.value.code == 2
    message = capsys.readouterr().err.strip()
    assert "--resume:" in message and "other settings" in message
    assert "--seed 3 (checkpoint: 0)" in message
    assert "--lr 0.01 (checkpoint: " in message


def test_resume_refuses_a_file_that_is_not_a_checkpoint(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as stopped:
        run("names_generation")([*flags("names_generation", data), "--out", str(out), "--resume"])
    assert stopped.value.code == 2
    assert "is not a loadable seqlearn checkpoint" in capsys.readouterr().err
