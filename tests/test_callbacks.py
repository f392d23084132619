"""Tests of callbacks: early stopping, model checkpoints, and the hooks user callbacks see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from typing_extensions import Self, override

from seqlearn.train import (
    Callback,
    EarlyStopping,
    EpochRecord,
    History,
    LearningRateScheduler,
    LossSum,
    ModelCheckpoint,
    Trainer,
)


class Unit:
    """A batch of one item, with nothing in it."""

    def to(self, device: torch.device) -> Self:
        return self


class Scalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))


@dataclass
class Script:
    """An objective whose validation figures follow a script, one entry per epoch.

    Training gives the loss ``w`` (gradient 1), so each step of SGD moves ``w``; validation
    gives the next scripted loss and, with ``correct``, the next accuracy out of 10.
    """

    valid_losses: list[float]
    correct: list[int] | None = None
    epochs_validated: int = 0

    def __call__(self, model: Scalar, batch: Unit) -> LossSum:
        if not torch.is_inference_mode_enabled():
            return LossSum(model.w * 1.0, 1)
        epoch = self.epochs_validated
        self.epochs_validated += 1
        loss = torch.tensor(self.valid_losses[epoch] * 10, dtype=torch.float64)
        return LossSum(loss, 10, None if self.correct is None else self.correct[epoch])


@dataclass
class Snapshots(Callback):
    """Keeps a copy of ``w`` after every epoch."""

    weights: dict[int, Tensor] = field(default_factory=dict)

    @override
    def on_epoch_end(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        self.weights[record.epoch] = trainer.model.w.detach().clone()


def _fit(
    script: Script, callbacks: list[Callback], epochs: int = 10
) -> tuple[History, Snapshots, Scalar]:
    model = Scalar()
    snapshots = Snapshots()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.125),
        script,
        callbacks=[snapshots, *callbacks],
        progress=False,
    )
    history = trainer.fit([Unit()], epochs=epochs, valid_batches=[Unit()])
    return history, snapshots, model


def _epochs(history: History) -> list[int]:
    return [record.epoch for record in history.records]


# Early stopping

LOSSES = [3.0, 2.0, 2.5, 2.1, 2.2, 1.0, 1.5, 1.6, 1.7, 1.8]


@pytest.mark.parametrize(("patience", "last_epoch"), [(0, 3), (1, 3), (2, 4), (3, 5), (4, 10)])
def test_early_stopping_waits_patience_epochs(patience: int, last_epoch: int) -> None:
    stopper = EarlyStopping("valid_loss", patience=patience)
    history, _, _ = _fit(Script(LOSSES), [stopper])
    assert _epochs(history) == list(range(1, last_epoch + 1))
    assert history.valid_loss == LOSSES[:last_epoch]
    expected_best = 2.0 if last_epoch < 6 else 1.0
    assert (stopper.best, stopper.best_epoch) == (expected_best, LOSSES.index(expected_best) + 1)


@pytest.mark.parametrize(("min_delta", "last_epoch"), [(0.0, 5), (0.1, 3)])
def test_early_stopping_honours_min_delta(min_delta: float, last_epoch: int) -> None:
    # improvements of 0.05 and 0.03 are too small with min_delta=0.1
    losses = [3.0, 2.95, 2.92, 2.5, 2.4]
    stopper = EarlyStopping("valid_loss", patience=2, min_delta=min_delta)
    history, _, _ = _fit(Script(losses), [stopper], epochs=5)
    assert _epochs(history) == list(range(1, last_epoch + 1))


def test_early_stopping_monitors_accuracy_upwards_by_default() -> None:
    assert EarlyStopping("valid_accuracy").mode == "max"
    assert EarlyStopping("train_accuracy").mode == "max"
    assert EarlyStopping("valid_loss").mode == EarlyStopping("train_loss").mode == "min"
    correct = [5, 7, 6, 6, 9, 9]
    up = EarlyStopping("valid_accuracy", patience=2)
    history, _, _ = _fit(Script([1.0] * 6, correct), [up], epochs=6)
    assert history.accuracy("valid") == [0.5, 0.7, 0.6, 0.6]
    assert (up.best, up.best_epoch) == (0.7, 2)
    # told to minimise, the same figures stop it an epoch earlier
    down = EarlyStopping("valid_accuracy", patience=2, mode="min")
    history, _, _ = _fit(Script([1.0] * 6, correct), [down], epochs=6)
    assert _epochs(history) == [1, 2, 3]


@pytest.mark.parametrize("restore", [True, False])
def test_restore_best_weights_loads_the_best_epoch(restore: bool) -> None:
    stopper = EarlyStopping("valid_loss", patience=2, restore_best_weights=restore)
    history, snapshots, model = _fit(Script([3.0, 2.0, 2.5, 2.6]), [stopper])
    assert _epochs(history) == [1, 2, 3, 4]
    assert not torch.equal(snapshots.weights[2], snapshots.weights[4])
    assert torch.equal(model.w.detach(), snapshots.weights[2 if restore else 4])


def test_early_stopping_on_a_figure_that_was_not_measured_raises() -> None:
    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        Script([]),
        callbacks=[EarlyStopping("valid_loss")],
        progress=False,
    )
    with pytest.raises(ValueError, match="'valid_loss', which was not measured"):
        trainer.fit([Unit()], epochs=2)  # no validation batches


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EarlyStopping("val_loss"), "unknown figure 'val_loss'"),
        (lambda: EarlyStopping(patience=-1), "patience must be >= 0, got -1"),
        (lambda: EarlyStopping(mode="up"), "mode must be 'min' or 'max', got 'up'"),  # type: ignore[arg-type]
        (lambda: ModelCheckpoint("x.pt", monitor="val_acc"), "unknown figure 'val_acc'"),
        (lambda: ModelCheckpoint("x.pt", every_n_epochs=0), "every_n_epochs must be >= 1"),
    ],
)
def test_bad_callback_options_raise(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# Model checkpoints


def _load(path: Path) -> dict[str, Any]:
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded, dict)
    return loaded


def test_model_checkpoint_every_n_epochs(tmp_path: Path) -> None:
    saver = ModelCheckpoint(tmp_path / "run" / "epoch-{epoch}.pt", every_n_epochs=2)
    _, snapshots, _ = _fit(Script([1.0] * 5), [saver], epochs=5)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["epoch-2.pt", "epoch-4.pt"]
    for epoch in (2, 4):
        checkpoint = _load(tmp_path / "run" / f"epoch-{epoch}.pt")
        assert checkpoint["epoch"] == epoch and checkpoint["step"] == epoch
        assert torch.equal(checkpoint["model"]["w"], snapshots.weights[epoch])
        assert [r["epoch"] for r in checkpoint["history"]["records"]] == list(range(1, epoch + 1))


def test_model_checkpoint_save_best_only(tmp_path: Path) -> None:
    every_best = ModelCheckpoint(tmp_path / "best-{epoch}.pt", save_best_only=True)
    last_best = ModelCheckpoint(tmp_path / "best.pt", save_best_only=True)
    _, snapshots, _ = _fit(Script([3.0, 2.0, 2.5, 1.0, 1.5]), [every_best, last_best], epochs=5)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best-1.pt", "best-2.pt", "best-4.pt", "best.pt"]
    best = _load(tmp_path / "best.pt")
    assert best["epoch"] == 4 and torch.equal(best["model"]["w"], snapshots.weights[4])


def test_model_checkpoint_of_the_best_accuracy(tmp_path: Path) -> None:
    saver = ModelCheckpoint(
        tmp_path / "best-{epoch}.pt", monitor="valid_accuracy", save_best_only=True
    )
    _fit(Script([1.0] * 4, correct=[5, 7, 6, 8]), [saver], epochs=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.pt", "best-2.pt", "best-4.pt"]


class EpochCounter(Callback):
    """Counts the epochs it has seen, and keeps the count in checkpoints."""

    def __init__(self) -> None:
        self.count = 0

    @override
    def on_epoch_end(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        self.count += 1

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])


def test_checkpoints_hold_what_later_callbacks_reach_in_the_epoch(tmp_path: Path) -> None:
    saver, counter = ModelCheckpoint(tmp_path / "epoch-{epoch}.pt"), EpochCounter()
    _fit(Script([1.0] * 2), [saver, counter], epochs=2)  # the counter comes after the saver
    states = _load(tmp_path / "epoch-2.pt")["callbacks"]
    assert states == [{}, saver.state_dict(), {"count": 2}]


# Hooks of user callbacks


@dataclass
class Recorder(Callback):
    """Logs each hook it sees, with what it was told."""

    name: str
    log: list[str]

    @override
    def on_fit_start(self, trainer: Trainer[Any, Any]) -> None:
        self.log.append(f"{self.name} fit_start")

    @override
    def on_epoch_start(self, trainer: Trainer[Any, Any], epoch: int) -> None:
        self.log.append(f"{self.name} epoch_start {epoch}")

    @override
    def on_step_end(self, trainer: Trainer[Any, Any], step: int) -> None:
        assert step == trainer.step
        self.log.append(f"{self.name} step_end {step}")

    @override
    def on_epoch_end(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        assert record.epoch == trainer.epoch and trainer.history.records[-1] is record
        self.log.append(f"{self.name} epoch_end {record.epoch}")

    @override
    def on_epoch_finished(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        self.log.append(f"{self.name} epoch_finished {record.epoch}")

    @override
    def on_fit_end(self, trainer: Trainer[Any, Any], history: History) -> None:
        assert history is trainer.history
        self.log.append(f"{self.name} fit_end")


def test_callbacks_see_the_hooks_in_order() -> None:
    log: list[str] = []
    _fit(Script([1.0] * 2), [Recorder("a", log), Recorder("b", log)], epochs=2)
    expected = [f"{name} fit_start" for name in "ab"]
    for epoch in (1, 2):
        for hook in ("epoch_start", "step_end", "epoch_end", "epoch_finished"):
            expected += [f"{name} {hook} {epoch}" for name in "ab"]
    expected += [f"{name} fit_end" for name in "ab"]
    assert log == expected


def test_hooks_count_every_optimiser_step() -> None:
    log: list[str] = []
    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        Script([]),
        callbacks=[Recorder("r", log)],
        progress=False,
    )
    trainer.fit([Unit(), Unit(), Unit()], epochs=2)
    steps = [entry for entry in log if "step_end" in entry]
    assert steps == [f"r step_end {s}" for s in range(1, 7)]


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @override
    def on_epoch_end(self, trainer: Trainer[Any, Any], record: EpochRecord) -> None:
        if record.epoch == self.epoch:
            trainer.stop_training = True


def test_a_callback_can_stop_training() -> None:
    log: list[str] = []
    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        Script([]),
        callbacks=[StopAfter(2), Recorder("r", log)],
        progress=False,
    )
    history = trainer.fit([Unit()], epochs=10)
    assert _epochs(history) == [1, 2] and log[-1] == "r fit_end"
    assert trainer.stop_training
    assert _epochs(trainer.fit([Unit()], epochs=4)) == [1, 2, 3, 4], "a new fit trains on"


def test_model_checkpoint_refuses_to_monitor_an_unmeasured_figure(tmp_path: Path) -> None:
    saver = ModelCheckpoint(tmp_path / "best.pt", monitor="valid_accuracy", save_best_only=True)
    with pytest.raises(ValueError, match="'valid_accuracy', which was not measured"):
        _fit(Script([3.0, 2.0]), [saver], epochs=2)
    assert not (tmp_path / "best.pt").exists()


class GradientNorms(Callback):
    """Records the gradient norm each optimiser step sees, and the gradients then."""

    def __init__(self) -> None:
        self.norms: list[float] = []
        self.grads: list[float] = []

    @override
    def on_before_step(self, trainer: Trainer[Any, Any], grad_norm: float) -> None:
        self.norms.append(grad_norm)
        self.grads.append(float(trainer.model.w.grad))


def test_before_step_hook_sees_the_final_gradients_and_their_norm() -> None:
    norms = GradientNorms()
    _fit(Script([1.0, 1.0]), [norms], epochs=2)
    assert norms.norms == [1.0, 1.0] and norms.grads == [1.0, 1.0]  # loss w: gradient 1


def test_reduce_on_plateau_steps_on_the_monitored_figure() -> None:
    model = Scalar()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    trainer = Trainer(
        model,
        optimizer,
        Script([3.0, 2.0, 2.0, 2.0]),
        callbacks=[LearningRateScheduler(plateau, "epoch")],
        progress=False,
    )
    trainer.fit([Unit()], epochs=4, valid_batches=[Unit()])
    assert optimizer.param_groups[0]["lr"] == 0.25  # halved after epochs 3 and 4
    with pytest.raises(ValueError, match="interval='epoch'"):
        LearningRateScheduler(plateau, "step")
