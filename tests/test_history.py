"""Tests of the history of a training run: figures, perplexity, JSON and plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from seqlearn.data.batching import collate_next_token
from seqlearn.nn import lecture_generator
from seqlearn.train import EpochRecord, History, Trainer, next_token_loss


def _history() -> History:
    history = History()
    history.append(EpochRecord(1, 2.5, 2.4, 3.0, 0.01))
    history.append(EpochRecord(2, 2.0, None, 1.5, 0.005))
    return history


def _classifier_history() -> History:
    history = History()
    history.append(EpochRecord(1, 1.1, 1.0, 2.0, 0.1, 0.25, 0.5, steps=4))
    history.append(EpochRecord(2, 0.9, 0.95, 2.0, 0.1, 0.75, None, steps=8, skipped_steps=1))
    return history


def test_history_properties() -> None:
    history = _history()
    assert history.train_loss == [2.5, 2.0]
    assert history.valid_loss == [2.4, None]
    assert history.epoch_seconds == [3.0, 1.5]
    assert history.total_seconds == 4.5


def test_perplexity_is_exp_of_the_loss() -> None:
    history = _history()
    assert history.perplexity("train") == [math.exp(2.5), math.exp(2.0)]
    valid = history.perplexity("valid")
    assert valid[0] == math.exp(2.4) and math.isnan(valid[1])


def test_accuracy_per_split() -> None:
    assert _classifier_history().accuracy("train") == [0.25, 0.75]
    assert _classifier_history().accuracy("valid") == [0.5, None]
    assert _history().accuracy("train") == [None, None]


def test_record_value_by_name() -> None:
    record = _classifier_history().records[1]
    assert record.value("train_accuracy") == 0.75
    assert record.value("valid_accuracy") is None
    assert record.value("skipped_steps") == 1.0
    with pytest.raises(ValueError, match="unknown figure 'val_loss'"):
        record.value("val_loss")


def test_history_json_round_trip(tmp_path: Path) -> None:
    history = _classifier_history()
    path = tmp_path / "history.json"
    history.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == history.to_dict()
    assert data["records"][1] == {
        "epoch": 2,
        "train_loss": 0.9,
        "valid_loss": 0.95,
        "seconds": 2.0,
        "learning_rate": 0.1,
        "train_accuracy": 0.75,
        "valid_accuracy": None,
        "steps": 8,
        "skipped_steps": 1,
    }
    assert History.load(path) == history
    assert History.from_dict(history.to_dict()) == history


def test_a_history_saved_before_accuracy_was_recorded_still_loads() -> None:
    fields = {"epoch": 1, "train_loss": 2.0, "valid_loss": None, "seconds": 1.0}
    record = History.from_dict({"records": [{**fields, "learning_rate": 0.1}]}).records[0]
    assert record == EpochRecord(1, 2.0, None, 1.0, 0.1)
    assert record.train_accuracy is None and record.valid_accuracy is None
    assert record.steps == record.skipped_steps == 0


def test_history_of_a_fit_round_trips(tmp_path: Path) -> None:
    model = lecture_generator(hidden_size=8, generator=torch.Generator().manual_seed(0))
    batches = [collate_next_token([([1, 2, 3], 0), ([4, 5], 1)], eos_id=58)]
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    history = trainer.fit(batches, epochs=2, valid_batches=batches)
    history.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json") == history


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"rows": []},
        {"records": [{"epoch": 1}]},
        {"records": [{**_history().to_dict()["records"][0], "extra": 1}]},
        {"records": [1]},
        None,
    ],
)
def test_history_from_dict_rejects_bad_data(data: Any) -> None:
    with pytest.raises(ValueError, match="not a seqlearn training history"):
        History.from_dict(data)


def test_history_load_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"epochs": [1, 2]}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a seqlearn training history"):
        History.load(path)


@pytest.mark.parametrize("history", [_history(), _classifier_history()], ids=["lm", "classifier"])
def test_plot_writes_a_png(tmp_path: Path, history: History) -> None:
    pytest.importorskip("matplotlib")
    path = history.plot(tmp_path / "history.png")
    assert path == tmp_path / "history.png"
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_plot_has_an_accuracy_panel_only_for_classifiers(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    axes_counts = []
    original = plt.subplots

    def counting_subplots(*args: Any, **kwargs: Any) -> Any:
        figure, axes = original(*args, **kwargs)
        axes_counts.append(axes.size)
        return figure, axes

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt, "subplots", counting_subplots)
        _history().plot(tmp_path / "lm.png")
        _classifier_history().plot(tmp_path / "classifier.png")
    assert axes_counts == [1, 2]
