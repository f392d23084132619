"""Checkpoints: weights-only round trips, refusals, random states, and saves killed midway."""

from __future__ import annotations

import logging
import os
import random
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor
from torch.optim.lr_scheduler import OneCycleLR

from seqlearn.nn import LSTMState, lecture_generator
from seqlearn.train.checkpoint import (
    capture_rng_states,
    load_checkpoint,
    restore_rng_states,
    save_checkpoint,
)

# The child process of the crash test: resumes the counter, then saves forever (~4 MB each).
_SAVER = """
import os, sys, torch
from seqlearn.train.checkpoint import load_checkpoint, save_checkpoint
path = sys.argv[1]
counter = load_checkpoint(path)["counter"] if os.path.exists(path) else 0
while True:
    counter += 1
    save_checkpoint(path, {"counter": counter, "weights": torch.randn(1 << 20)})
"""
_WAIT_S = 20.0


def _assert_same(actual: object, expected: object, where: str = "checkpoint") -> None:
    """Equal values of the same types all the way down; tensors equal in dtype and values."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, Tensor):
        assert isinstance(actual, Tensor)
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), where
        for key in expected:
            _assert_same(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple) and len(actual) == len(expected), where
        for index, (got, want) in enumerate(zip(actual, expected)):
            _assert_same(got, want, f"{where}[{index}]")
    else:
        assert actual == expected, where


def _training_state() -> tuple[torch.nn.Module, torch.optim.Adam, OneCycleLR]:
    model = lecture_generator(hidden_size=8, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = OneCycleLR(optimizer, max_lr=0.01, total_steps=10)
    return model, optimizer, scheduler


def _step(model: torch.nn.Module, optimizer: torch.optim.Adam, scheduler: OneCycleLR) -> None:
    optimizer.zero_grad()
    loss = torch.stack([parameter.square().sum() for parameter in model.parameters()]).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    scheduler.step()


def test_a_realistic_checkpoint_round_trips_with_weights_only(tmp_path: Path) -> None:
    model, optimizer, scheduler = _training_state()
    _step(model, optimizer, scheduler)
    checkpoint: dict[str, object] = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 1,
        "step": 1,
        "history": {"train_loss": [2.5, 2.25], "valid_loss": [None, 2.4], "name": "lecture"},
        "best": (1, 2.4, True),
        "rng": capture_rng_states(),
    }
    path = save_checkpoint(tmp_path / "runs" / "a" / "last.pt", checkpoint)  # folders made

    loaded = load_checkpoint(path)
    _assert_same(loaded, checkpoint)
    raw = torch.load(path, weights_only=True)
    assert (raw.pop("format"), raw.pop("format_version")) == ("seqlearn.checkpoint", 1)
    _assert_same(raw, checkpoint)

    # The loaded state resumes training exactly where the saved one was.
    resumed = _training_state()
    resumed[0].load_state_dict(loaded["model"])
    resumed[1].load_state_dict(loaded["optimizer"])
    resumed[2].load_state_dict(loaded["scheduler"])
    _step(model, optimizer, scheduler)
    _step(*resumed)
    _assert_same(resumed[0].state_dict(), model.state_dict())
    _assert_same(resumed[1].state_dict(), optimizer.state_dict())


def test_new_files_get_the_usual_permissions(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    umask = os.umask(0)
    os.umask(umask)
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def _draw() -> tuple[list[float], list[float], list[float]]:
    return (
        torch.randn(5).tolist(),
        [random.random(), random.gauss(0.0, 1.0)],
        np.random.standard_normal(3).tolist(),
    )


@pytest.mark.parametrize("through_file", [False, True])
def test_restored_rng_states_repeat_the_same_draws(tmp_path: Path, through_file: bool) -> None:
    random.gauss(0.0, 1.0)  # leaves a cached second normal in Python's and NumPy's states
    np.random.standard_normal(1)
    states = capture_rng_states()
    if through_file:
        states = load_checkpoint(save_checkpoint(tmp_path / "rng.pt", {"rng": states}))["rng"]
    first = _draw()
    restore_rng_states(states)
    assert _draw() == first
    assert _draw() != first


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda states: states.pop(key)


@pytest.mark.parametrize(
    ("break_states", "message"),
    [
        (_drop("numpy"), "rng states are missing the key 'numpy'"),
        (_drop("torch"), "rng states are missing the key 'torch'"),
        (lambda s: s["python"].pop("gauss_next"), "rng states['python'] are missing"),
        (lambda s: s["python"].update(state=[1, 2, 3]), "rng states['python']"),
        (lambda s: s.update(torch=torch.zeros(3, dtype=torch.uint8)), "rng states['torch']"),
        (lambda s: s.update(torch=[1, 2]), "rng states['torch']: expected a tensor"),
        (lambda s: s["numpy"].update(keys=torch.zeros(624)), "rng states['numpy']['keys']"),
        (lambda s: s["numpy"].update(keys=torch.zeros(3, dtype=torch.int64)), "624 32-bit words"),
        (lambda s: s["numpy"].update(name="PCG64"), "rng states['numpy']"),
        (lambda s: s.update(cuda="nope"), "rng states['cuda']"),
    ],
)
def test_invalid_rng_states_raise_and_change_nothing(
    break_states: Callable[[dict[str, Any]], None], message: str
) -> None:
    states = capture_rng_states()
    break_states(states)
    before = capture_rng_states()
    with pytest.raises(ValueError, match=re.escape(message)):
        restore_rng_states(states)
    _assert_same(capture_rng_states(), before)


def test_cuda_states_are_restored_per_device_when_available(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No GPU needed: torch.cuda is stubbed with two captured devices and one present.
    devices = [torch.full((16,), index, dtype=torch.uint8) for index in range(2)]
    restored: dict[int, Tensor] = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [d.clone() for d in devices])
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: restored.__setitem__(d, s))
    states = capture_rng_states()
    _assert_same(states["cuda"], devices)
    with caplog.at_level(logging.WARNING, logger="seqlearn.train.checkpoint"):
        restore_rng_states(states)
    assert list(restored) == [0] and torch.equal(restored[0], devices[0])
    assert "restoring 2 CUDA random states on 1 devices" in caplog.text

    restored.clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restore_rng_states(states)  # resuming a GPU run on a CPU: the CUDA states are skipped
    assert restored == {}


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("checkpoint", "message"),
    [
        (
            {"history": [1.0, 2.0, 3.0, np.zeros(2)]},
            "checkpoint['history'][3]: numpy.ndarray is not loadable with weights_only=True",
        ),
        (
            {"state": LSTMState(torch.zeros(2), torch.zeros(2))},
            "checkpoint['state']: seqlearn.nn.cells.lstm.LSTMState is not loadable",
        ),
        ({"best": {"loss": np.float64(0.5)}}, "checkpoint['best']['loss']: numpy.float64 is not"),
        ({"tags": ["a", {"b"}]}, "checkpoint['tags'][1]: set is not"),
        ({"ids": {_Opaque(): 1}}, "checkpoint['ids'] (the key <"),
        ({"hook": print}, "checkpoint['hook']: builtin_function_or_method is not"),
        ({"raw": b"bytes"}, "checkpoint['raw']: bytes is not"),
    ],
)
def test_unloadable_objects_are_refused_by_key_path_and_nothing_is_written(
    tmp_path: Path, checkpoint: dict[str, object], message: str
) -> None:
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})
    previous = path.read_bytes()
    with pytest.raises(TypeError, match=re.escape(message)):
        save_checkpoint(path, {"epoch": 2, **checkpoint})
    assert path.read_bytes() == previous
    assert list(tmp_path.iterdir()) == [path]


def test_reserved_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "last.pt", {"format": "mine"})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})

    def failing_save(obj: object, file: Any) -> None:
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert list(tmp_path.iterdir()) == [path]


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.pt"))):
        load_checkpoint(tmp_path / "none.pt")


@pytest.mark.parametrize("damage", ["truncated", "empty", "random"])
def test_damaged_files_are_not_loadable(tmp_path: Path, damage: str) -> None:
    good = save_checkpoint(tmp_path / "good.pt", {"weights": torch.randn(1000)}).read_bytes()
    contents = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "random": random.Random(0).randbytes(4096),
    }[damage]
    path = tmp_path / "bad.pt"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match=re.escape("bad.pt is not a loadable")) as info:
        load_checkpoint(path)
    assert info.value.__cause__ is not None


class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``: what weights_only must never allow."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (str(self.marker),)


def test_pickled_code_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "seqlearn.checkpoint", "format_version": 1, "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match=re.escape("evil.pt is not a loadable")) as info:
        load_checkpoint(path)
    assert info.value.__cause__ is not None
    assert not marker.exists()
    torch.load(path, weights_only=False)  # our own file: shows the payload is real
    assert marker.exists()


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ({"epoch": 1}, "expected a dict with 'format': 'seqlearn.checkpoint'"),
        ([1, 2], "got list"),
        ({"format": "seqlearn.checkpoint", "format_version": 2}, "format_version 2"),
        ({"format": "seqlearn.checkpoint"}, "format_version None"),
    ],
)
def test_files_without_a_readable_format_marker_are_refused(
    tmp_path: Path, contents: object, message: str
) -> None:
    path = tmp_path / "other.pt"
    torch.save(contents, path)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_checkpoint(path)


def _wait_for_counter(path: Path, target: int, child: subprocess.Popen[bytes], log: Path) -> int:
    """Poll until the checkpoint's counter reaches ``target``; every read must load."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"the saver exited ({child.returncode}):\n{log.read_text()}")
        if path.exists():
            counter = load_checkpoint(path)["counter"]
            if counter >= target:
                return int(counter)
        time.sleep(0.02)
    pytest.fail(f"the saver did not reach counter {target} within {_WAIT_S} s")


def test_a_killed_save_leaves_a_whole_checkpoint(tmp_path: Path) -> None:
    """SIGKILL a process that saves in a loop, five times: the file always loads.

    A kill mid-save may leave a ``.tmp`` file behind; it never takes the checkpoint's name.
    """
    path = tmp_path / "run" / "last.pt"
    log = tmp_path / "saver.log"
    moments = random.Random(0)
    counter = 0
    for _ in range(5):
        with log.open("wb") as stderr:
            child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stderr=stderr)
        try:
            reached = _wait_for_counter(path, counter + 2, child, log)
            time.sleep(moments.uniform(0.0, 0.3))
        finally:
            child.kill()  # SIGKILL on POSIX
            child.wait()
        counter = load_checkpoint(path)["counter"]
        assert type(counter) is int and counter >= max(1, reached)
    leftovers = [entry.name for entry in path.parent.iterdir() if entry != path]
    assert all(re.fullmatch(r"\.last\.pt\.[0-9a-f]{16}\.tmp", name) for name in leftovers)
