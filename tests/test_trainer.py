"""Tests of the training loop, its objective and the history it records."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn
from typing_extensions import Self

from seqlearn.data.batching import NextTokenBatch, collate_next_token
from seqlearn.nn import ConditionalLM, GRUCell, StackedCell, lecture_generator
from seqlearn.train import (
    DivergenceError,
    EpochRecord,
    History,
    LossSum,
    Trainer,
    next_token_loss,
)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


NAMES = [([1, 2, 3, 4], 0), ([5, 6], 1), ([7, 8, 9], 2), ([10], 0), ([11, 12, 13, 14, 15], 1)]


def _batches() -> list[NextTokenBatch]:
    return [collate_next_token(NAMES[:3], eos_id=58), collate_next_token(NAMES[3:], eos_id=58)]


def _lecture_model(seed: int = 0, hidden_size: int = 16) -> ConditionalLM[Any]:
    return lecture_generator(hidden_size=hidden_size, generator=_generator(seed))


def _dropout_model(seed: int = 0) -> ConditionalLM[Any]:
    cell = StackedCell(
        [
            GRUCell(3 + 59, 12, generator=_generator(seed)),
            GRUCell(12, 12, generator=_generator(seed + 1)),
        ],
        dropout=0.5,
    )
    return ConditionalLM(cell, vocab_size=59, num_categories=3, generator=_generator(seed + 2))


def _parameters(model: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _manual_mean_loss(model: ConditionalLM[Any], batches: list[NextTokenBatch]) -> float:
    """Plain reference: per-token cross-entropy, one sequence and one position at a time."""
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            logits = model(batch.inputs, batch.lengths, batch.categories)
            for b in range(batch.inputs.size(0)):
                for t in range(int(batch.lengths[b])):
                    log_probs = torch.log_softmax(logits[b, t].double(), dim=0)
                    total -= float(log_probs[int(batch.targets[b, t])])
                    count += 1
    return total / count


# A fake task with known losses


@dataclass
class FakeBatch:
    """A batch whose summed loss and item count are fixed in advance."""

    total: float
    count: int
    moved_to: list[torch.device] = field(default_factory=list)

    def to(self, device: torch.device) -> Self:
        self.moved_to.append(device)
        return self


class Scalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))


def known_sums(model: Scalar, batch: FakeBatch) -> LossSum:
    """Total = the batch's fixed total plus ``count * w``; the mean's gradient is 1."""
    return LossSum(batch.total + batch.count * model.w, batch.count)


# Fitting


def test_loss_decreases_on_a_tiny_overfit_task() -> None:
    model = _lecture_model(hidden_size=32)
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters(), lr=0.02), next_token_loss, progress=False
    )
    history = trainer.fit(_batches(), epochs=40)
    losses = history.train_loss
    assert len(losses) == 40 and all(math.isfinite(loss) for loss in losses)
    assert losses[0] > math.log(59) - 0.5  # starts near a uniform guess over 59 letters
    assert losses[-1] < 0.25 * losses[0]
    final = _manual_mean_loss(model, _batches())
    assert final < 0.25 * losses[0]
    assert trainer.evaluate(_batches()) == pytest.approx(final, rel=1e-5)


def test_epoch_train_loss_is_the_exact_token_weighted_mean() -> None:
    model = Scalar()
    batches = [FakeBatch(6.0, 3), FakeBatch(1.0, 4), FakeBatch(0.0, 0), FakeBatch(10.0, 2)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    trainer = Trainer(model, optimizer, known_sums, progress=False)
    history = trainer.fit(batches, epochs=2)
    # w starts at 1 and each counted batch steps on d(mean)/dw = 1: w = 1, 0.5, 0 before them
    first = (6.0 + 3 * 1.0 + 1.0 + 4 * 0.5 + 10.0 + 2 * 0.0) / 9
    second = (6.0 + 3 * -0.5 + 1.0 + 4 * -1.0 + 10.0 + 2 * -1.5) / 9
    assert history.train_loss == pytest.approx([first, second], abs=1e-6)
    # six steps of 0.5 each; the empty batch is skipped
    assert float(model.w.detach()) == pytest.approx(1.0 - 6 * 0.5)
    assert [r.epoch for r in history.records] == [1, 2]
    assert history.valid_loss == [None, None]
    assert all(r.learning_rate == 0.5 and r.seconds >= 0 for r in history.records)


def test_evaluate_is_the_token_weighted_mean_of_known_sums() -> None:
    trainer = Trainer(
        Scalar(), torch.optim.SGD([nn.Parameter(torch.zeros(()))], lr=1.0), known_sums
    )
    batches = [FakeBatch(3.0, 1), FakeBatch(5.0, 3)]
    assert trainer.evaluate(batches) == pytest.approx((3.0 + 1 + 5.0 + 3) / 4)
    assert math.isnan(trainer.evaluate([FakeBatch(0.0, 0)]))


def test_epochs_continue_across_fits_and_validation_is_recorded() -> None:
    model = _lecture_model()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    trainer.fit(_batches(), epochs=2)
    history = trainer.fit(_batches(), epochs=1, valid_batches=_batches()[:1])
    assert [r.epoch for r in history.records] == [3]
    valid = history.valid_loss[0]
    assert valid is not None
    assert valid == pytest.approx(_manual_mean_loss(model, _batches()[:1]), rel=1e-5)


def test_seed_makes_fits_bit_identical_and_keeps_global_rng() -> None:
    def fit(seed: int | None) -> tuple[History, list[Tensor]]:
        model = _dropout_model()
        trainer = Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=0.5),
            next_token_loss,
            progress=False,
            seed=seed,
        )
        return trainer.fit(_batches(), epochs=3), _parameters(model)

    before = torch.get_rng_state()
    first_history, first_params = fit(3)
    assert torch.equal(torch.get_rng_state(), before), "a seeded fit restores the global RNG"
    second_history, second_params = fit(3)
    assert torch.equal(torch.get_rng_state(), before)
    assert first_history.train_loss == second_history.train_loss
    assert all(torch.equal(a, b) for a, b in zip(first_params, second_params))

    other_history, other_params = fit(4)
    assert other_history.train_loss != first_history.train_loss, "dropout draws from the seed"
    assert not all(torch.equal(a, b) for a, b in zip(first_params, other_params))

    fit(None)
    assert not torch.equal(torch.get_rng_state(), before), "unseeded dropout uses the global RNG"


class SpySGD(torch.optim.SGD):
    """SGD that records the global gradient norm and the gradients it steps on."""

    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.norms: list[float] = []
        self.grads: list[list[Tensor]] = []

    def step(self, closure: Any = None) -> Any:
        grads = [p.grad.detach().clone() for g in self.param_groups for p in g["params"]]
        self.grads.append(grads)
        self.norms.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))
        return super().step(closure)


def test_clip_grad_norm_bounds_the_global_norm() -> None:
    clip = 0.05
    raw_model, clipped_model = _lecture_model(5), _lecture_model(5)
    raw_optimizer = SpySGD(raw_model.parameters(), lr=0.1)
    Trainer(raw_model, raw_optimizer, next_token_loss, progress=False).fit(_batches(), epochs=1)
    clipped_optimizer = SpySGD(clipped_model.parameters(), lr=0.1)
    Trainer(
        clipped_model, clipped_optimizer, next_token_loss, progress=False, clip_grad_norm=clip
    ).fit(_batches(), epochs=2)

    assert raw_optimizer.norms[0] > 2 * clip, "the test needs gradients that clipping changes"
    assert len(clipped_optimizer.norms) == 4
    assert all(norm <= clip * (1 + 1e-5) for norm in clipped_optimizer.norms)
    # the first step starts from the same weights: clipping rescales, keeping the direction
    scale = clip / raw_optimizer.norms[0]
    for raw, clipped in zip(raw_optimizer.grads[0], clipped_optimizer.grads[0], strict=True):
        torch.testing.assert_close(clipped, raw * scale, rtol=1e-5, atol=1e-8)


def test_small_gradients_are_not_clipped() -> None:
    raw_model, clipped_model = _lecture_model(6), _lecture_model(6)
    raw, clipped = (
        SpySGD(raw_model.parameters(), lr=0.1),
        SpySGD(clipped_model.parameters(), lr=0.1),
    )
    Trainer(raw_model, raw, next_token_loss, progress=False).fit(_batches()[:1], epochs=1)
    Trainer(clipped_model, clipped, next_token_loss, progress=False, clip_grad_norm=1e6).fit(
        _batches()[:1], epochs=1
    )
    for a, b in zip(raw.grads[0], clipped.grads[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_evaluate_keeps_weights_and_mode() -> None:
    model = _dropout_model()
    seen: list[tuple[bool, bool]] = []

    def spying_loss(m: ConditionalLM[Any], batch: NextTokenBatch) -> LossSum:
        seen.append((m.training, torch.is_inference_mode_enabled()))
        return next_token_loss(m, batch)

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1.0), spying_loss)
    before = _parameters(model)
    for training in (True, False):
        model.train(training)
        loss = trainer.evaluate(_batches())
        assert model.training is training
        assert all(module.training is training for module in model.modules())
    assert seen and all(mode == (False, True) for mode in seen)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert loss == pytest.approx(_manual_mean_loss(model.eval(), _batches()), rel=1e-5)


def test_evaluate_restores_mode_after_an_error() -> None:
    model = _lecture_model()

    def failing(m: ConditionalLM[Any], batch: NextTokenBatch) -> LossSum:
        raise RuntimeError("boom")

    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1.0), failing)
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        trainer.evaluate(_batches())
    assert model.training


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_raises_divergence_error(bad: float) -> None:
    model = Scalar()
    batches = [FakeBatch(1.0, 1), FakeBatch(bad, 2), FakeBatch(1.0, 1)]
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.25), known_sums, progress=False
    )
    trainer.fit([FakeBatch(1.0, 1)], epochs=1)  # epoch 1 is fine
    with pytest.raises(DivergenceError) as info:
        trainer.fit(batches, epochs=1)
    message = str(info.value)
    assert "epoch 2" in message and "step 2" in message and "learning rate 0.25" in message
    assert ("nan" if math.isnan(bad) else "inf") in message
    assert isinstance(info.value, RuntimeError)
    assert float(model.w.detach()) == pytest.approx(1.0 - 2 * 0.25), "the bad step changed nothing"


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_below_one_raise(epochs: int) -> None:
    trainer = Trainer(Scalar(), torch.optim.SGD(Scalar().parameters(), lr=1.0), known_sums)
    with pytest.raises(ValueError, match=f"epochs must be at least 1, got {epochs}"):
        trainer.fit([FakeBatch(1.0, 1)], epochs=epochs)


@pytest.mark.parametrize("clip", [0.0, -1.0, math.nan])
def test_non_positive_clip_raises(clip: float) -> None:
    model = Scalar()
    with pytest.raises(ValueError, match="clip_grad_norm must be positive"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=1.0), known_sums, clip_grad_norm=clip)


def test_device_moves_each_batch() -> None:
    model = Scalar()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), known_sums, progress=False, device="cpu"
    )
    batch = FakeBatch(1.0, 1)
    trainer.fit([batch], epochs=2, valid_batches=[batch])
    assert batch.moved_to == [torch.device("cpu")] * 4


def test_progress_false_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    model = _lecture_model()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    trainer.fit(_batches(), epochs=2, valid_batches=_batches())
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_true_shows_a_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    model = _lecture_model()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss)
    trainer.fit(_batches(), epochs=1)
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch 1" in captured.err


def test_epochs_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    model = _lecture_model()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    with caplog.at_level(logging.INFO, logger="seqlearn.train.trainer"):
        trainer.fit(_batches(), epochs=1)
    assert any("epoch 1: train loss" in record.getMessage() for record in caplog.records)


# History


def _history() -> History:
    history = History()
    history.append(EpochRecord(1, 2.5, 2.4, 3.0, 0.01))
    history.append(EpochRecord(2, 2.0, None, 1.5, 0.005))
    return history


def test_history_properties() -> None:
    history = _history()
    assert history.train_loss == [2.5, 2.0]
    assert history.valid_loss == [2.4, None]
    assert history.epoch_seconds == [3.0, 1.5]
    assert history.total_seconds == 4.5


def test_history_json_round_trip(tmp_path: Path) -> None:
    history = _history()
    path = tmp_path / "history.json"
    history.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == history.to_dict()
    assert data["records"][1] == {
        "epoch": 2,
        "train_loss": 2.0,
        "valid_loss": None,
        "seconds": 1.5,
        "learning_rate": 0.005,
    }
    assert History.load(path) == history
    assert History.from_dict(history.to_dict()) == history


def test_history_of_a_fit_round_trips(tmp_path: Path) -> None:
    model = _lecture_model()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    history = trainer.fit(_batches(), epochs=2, valid_batches=_batches())
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


def _tiny_fit_with_scheduler(interval: str, batches: int, epochs: int) -> list[float]:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: 0.5**n)

    class _Batch(NamedTuple):
        x: torch.Tensor

        def to(self, device: torch.device) -> _Batch:
            return _Batch(self.x.to(device))

    def objective(model: torch.nn.Module, batch: _Batch) -> LossSum:
        return LossSum(model(batch.x).pow(2).sum(), batch.x.size(0))

    trainer = Trainer(
        model,
        optimizer,
        objective,
        lr_scheduler=scheduler,
        scheduler_interval=interval,  # type: ignore[arg-type]
        progress=False,
    )
    data = [_Batch(torch.ones(1, 2))] * batches
    return [record.learning_rate for record in trainer.fit(data, epochs=epochs).records]


def test_lr_scheduler_steps_after_every_optimiser_step() -> None:
    assert _tiny_fit_with_scheduler("step", batches=3, epochs=2) == [0.5**3, 0.5**6]


def test_lr_scheduler_steps_after_every_epoch() -> None:
    assert _tiny_fit_with_scheduler("epoch", batches=3, epochs=2) == [0.5, 0.25]


def test_unknown_scheduler_interval_is_refused() -> None:
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="'batch'"):
        Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            lambda m, b: LossSum(torch.zeros(()), 0),
            scheduler_interval="batch",  # type: ignore[arg-type]
        )
