"""Tests of the training loop: objectives and figures, clipping, accumulation, divergence,
devices and learning-rate schedules."""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import pytest
import torch
from helpers import equal_states
from torch import Tensor, nn
from typing_extensions import Self

from seqlearn.data.batching import (
    ClassificationBatch,
    NextTokenBatch,
    collate_classification,
    collate_next_token,
)
from seqlearn.nn import ConditionalLM, GRUCell, StackedCell, lecture_generator
from seqlearn.train import (
    DivergenceError,
    History,
    LearningRateScheduler,
    LossSum,
    Metrics,
    NextTokenLoss,
    Trainer,
    classification_loss,
    next_token_loss,
    resolve_device,
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
    first = trainer.fit(_batches(), epochs=2)
    assert [r.epoch for r in first.records] == [1, 2]
    history = trainer.fit(_batches(), epochs=3, valid_batches=_batches()[:1])
    assert history is trainer.history, "fit returns the cumulative history"
    assert [r.epoch for r in history.records] == [1, 2, 3]
    assert [r.steps for r in history.records] == [2, 4, 6], "steps count since training began"
    assert history.valid_loss[:2] == [None, None]
    assert history.accuracy("train") == history.accuracy("valid") == [None] * 3, "an LM"
    valid = history.valid_loss[2]
    assert valid is not None
    assert valid == pytest.approx(_manual_mean_loss(model, _batches()[:1]), rel=1e-5)


def test_fit_up_to_an_epoch_already_reached_changes_nothing() -> None:
    model = _lecture_model()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), next_token_loss, progress=False
    )
    trainer.fit(_batches(), epochs=2)
    before = _parameters(model)
    for epochs in (1, 2):
        history = trainer.fit(_batches(), epochs=epochs)
        assert [r.epoch for r in history.records] == [1, 2]
    assert trainer.epoch == 2 and trainer.step == 4
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


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
    """SGD that records the global gradient norm, the gradients and the learning rate of
    each step it takes."""

    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.norms: list[float] = []
        self.grads: list[list[Tensor]] = []
        self.lrs: list[float] = []

    def step(self, closure: Any = None) -> Any:
        grads = [p.grad.detach().clone() for g in self.param_groups for p in g["params"]]
        self.grads.append(grads)
        self.lrs.append(float(self.param_groups[0]["lr"]))
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
    trainer.fit([FakeBatch(1.0, 1)], epochs=1)  # epoch 1 is fine: step 1
    with pytest.raises(DivergenceError) as info:
        trainer.fit(batches, epochs=2)  # step 2 is fine, step 3 diverges
    message = str(info.value)
    assert "epoch 2" in message and "step 3" in message and "learning rate 0.25" in message
    assert ("nan" if math.isnan(bad) else "inf") in message
    assert isinstance(info.value, RuntimeError)
    assert float(model.w.detach()) == pytest.approx(1.0 - 2 * 0.25), "the bad step changed nothing"


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_below_one_raise(epochs: int) -> None:
    trainer = Trainer(Scalar(), torch.optim.SGD(Scalar().parameters(), lr=1.0), known_sums)
    with pytest.raises(ValueError, match=f"epochs must be at least 1, got {epochs}"):
        trainer.fit([FakeBatch(1.0, 1)], epochs=epochs)


@pytest.mark.parametrize("clip", [0.0, -1.0, math.nan])
@pytest.mark.parametrize("name", ["clip_grad_norm", "clip_grad_value"])
def test_non_positive_clip_raises(name: str, clip: float) -> None:
    model = Scalar()
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=1.0),
            known_sums,
            **{name: clip},  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"accumulate_grad_batches": 0}, "accumulate_grad_batches must be at least 1, got 0"),
        ({"on_divergence": "ignore"}, "on_divergence must be 'stop', 'skip' or 'restore'"),
    ],
)
def test_bad_options_raise(options: dict[str, Any], message: str) -> None:
    model = Scalar()
    with pytest.raises(ValueError, match=message):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=1.0), known_sums, **options)


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


# Objectives and the figures they give


def _manual_sequence_nll(model: ConditionalLM[Any], batch: NextTokenBatch) -> list[float]:
    """Plain reference: each sequence's summed next-token NLL, one position at a time."""
    sums = []
    with torch.no_grad():
        logits = model(batch.inputs, batch.lengths, batch.categories)
        for b in range(batch.inputs.size(0)):
            total = 0.0
            for t in range(int(batch.lengths[b])):
                log_probs = torch.log_softmax(logits[b, t].double(), dim=0)
                total -= float(log_probs[int(batch.targets[b, t])])
            sums.append(total)
    return sums


def test_next_token_loss_counts_tokens_or_sequences() -> None:
    model = _lecture_model().eval()
    batch = _batches()[0]  # names of 4, 2 and 3 letters: 9 predicted tokens
    reference = sum(_manual_sequence_nll(model, batch))
    with torch.no_grad():
        per_token = NextTokenLoss()(model, batch)
        per_sequence = NextTokenLoss("sequence")(model, batch)
    assert (per_token.num_items, per_sequence.num_items) == (9, 3)
    assert per_token.num_correct is None and per_sequence.num_correct is None
    assert float(per_token.total) == pytest.approx(reference, rel=1e-5)
    assert float(per_sequence.total) == pytest.approx(reference, rel=1e-5)


def test_per_token_and_per_sequence_means_over_batches() -> None:
    model = _lecture_model()
    sums = [s for batch in _batches() for s in _manual_sequence_nll(model.eval(), batch)]
    num_tokens = sum(len(ids) for ids, _ in NAMES)
    means = {}
    for per in ("token", "sequence"):
        trainer = Trainer(
            model, torch.optim.SGD(model.parameters(), lr=1.0), NextTokenLoss(per), progress=False
        )
        means[per] = trainer.validate(_batches())
    assert means["token"].num_items == num_tokens == 15
    assert means["token"].loss == pytest.approx(sum(sums) / num_tokens, rel=1e-5)
    assert means["sequence"].num_items == len(NAMES)
    assert means["sequence"].loss == pytest.approx(sum(sums) / len(NAMES), rel=1e-5)
    assert means["token"].accuracy is None and means["sequence"].accuracy is None


def test_next_token_loss_refuses_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="per must be 'token' or 'sequence', got 'word'"):
        NextTokenLoss("word")  # type: ignore[arg-type]


class MeanClassifier(nn.Module):
    """Embedding, mean over each sequence's valid positions, linear layer: (B, T) -> (B, C)."""

    def __init__(self, seed: int = 0, vocab_size: int = 16, num_classes: int = 3) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 8)
        self.linear = nn.Linear(8, num_classes)
        generator = _generator(seed)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        positions = torch.arange(inputs.size(1), device=inputs.device)  # (T,)
        mask = (positions[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
        summed = (self.embedding(inputs) * mask).sum(dim=1)  # (B, E)
        logits: Tensor = self.linear(summed / lengths[:, None])  # (B, C)
        return logits


TEXTS = [([1, 2, 3], 0), ([4, 5], 1), ([6], 2), ([7, 8, 9, 10], 1), ([11, 12], 0), ([13, 15], 2)]


def _argmax_by_hand(row: Tensor) -> int:
    values = [float(value) for value in row]
    return max(range(len(values)), key=lambda c: values[c])


def _accuracy_by_hand(model: MeanClassifier, batches: list[ClassificationBatch]) -> float:
    correct = total = 0
    with torch.no_grad():
        for batch in batches:
            for row, label in zip(model(batch.inputs, batch.lengths), batch.labels):
                correct += _argmax_by_hand(row) == int(label)
                total += 1
    return correct / total


def test_classification_loss_against_a_hand_computation() -> None:
    model = MeanClassifier()
    unlabelled = collate_classification(TEXTS)
    with torch.no_grad():
        logits = model(unlabelled.inputs, unlabelled.lengths)
    predicted = [_argmax_by_hand(row) for row in logits]
    # right labels for even rows, wrong ones for odd rows: 3 of 6 correct
    labels = [p if i % 2 == 0 else (p + 1) % 3 for i, p in enumerate(predicted)]
    batch = collate_classification([(ids, label) for (ids, _), label in zip(TEXTS, labels)])
    with torch.no_grad():
        loss = classification_loss(model, batch)
    reference = 0.0
    for row, label in zip(logits.double().tolist(), labels):
        reference += math.log(sum(math.exp(value) for value in row)) - row[label]
    assert loss.num_items == 6 and loss.num_correct == 3
    assert float(loss.total) == pytest.approx(reference, rel=1e-5)


@pytest.mark.parametrize("epsilon", [0.1, 0.35])
def test_label_smoothing_against_a_hand_computation_in_training_only(epsilon: float) -> None:
    model = MeanClassifier()
    batch = collate_classification([(ids, i % 3) for i, (ids, _) in enumerate(TEXTS)])
    with torch.no_grad():
        logits = model(batch.inputs, batch.lengths).double().tolist()
        smoothed = classification_loss(model.train(), batch, label_smoothing=epsilon)
        plain_in_eval = classification_loss(model.eval(), batch, label_smoothing=epsilon)
        plain = classification_loss(model, batch)
    reference = 0.0
    for row, label in zip(logits, batch.labels.tolist()):
        log_z = math.log(sum(math.exp(value) for value in row))
        target = [epsilon / 3 + (1 - epsilon) * (c == label) for c in range(3)]
        reference += sum(t * (log_z - value) for t, value in zip(target, row))
    assert float(smoothed.total) == pytest.approx(reference, rel=1e-5)
    assert float(smoothed.total) != pytest.approx(float(plain.total))
    assert float(plain_in_eval.total) == float(plain.total)  # validation: plain cross-entropy
    assert smoothed.num_correct == plain.num_correct and smoothed.num_items == 6


@pytest.mark.parametrize("epsilon", [-0.1, 1.0, 1.5])
def test_label_smoothing_outside_zero_to_one_is_refused(epsilon: float) -> None:
    batch = collate_classification(TEXTS)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        classification_loss(MeanClassifier(), batch, label_smoothing=epsilon)


def test_a_classifier_records_train_and_valid_accuracy() -> None:
    model = MeanClassifier(seed=1)
    initial = copy.deepcopy(model)
    train = [collate_classification(TEXTS)]  # one batch: its accuracy is that before the step
    valid = [collate_classification(TEXTS[:4]), collate_classification(TEXTS[4:])]
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.5), classification_loss, progress=False
    )
    trainer.fit(train, epochs=1, valid_batches=valid)
    after_one = copy.deepcopy(model)
    history = trainer.fit(train, epochs=2, valid_batches=valid)
    assert history.accuracy("train") == [
        _accuracy_by_hand(initial, train),
        _accuracy_by_hand(after_one, train),
    ]
    assert history.accuracy("valid") == [
        _accuracy_by_hand(after_one, valid),
        _accuracy_by_hand(model, valid),
    ]
    metrics = trainer.validate(valid)
    assert metrics.num_items == 6 and metrics.accuracy == history.accuracy("valid")[-1]
    assert metrics.loss == history.valid_loss[-1]


def test_train_epoch_returns_metrics_and_records_nothing() -> None:
    model = Scalar()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.5), known_sums)
    metrics = trainer.train_epoch([FakeBatch(6.0, 3), FakeBatch(1.0, 4)])
    assert isinstance(metrics, Metrics)
    # w is 1 for the first batch and 0.5 for the second
    assert metrics.loss == pytest.approx((6.0 + 3 * 1.0 + 1.0 + 4 * 0.5) / 7)
    assert (metrics.accuracy, metrics.num_items) == (None, 7)
    assert trainer.history.records == [] and trainer.epoch == 0 and trainer.step == 2


# Clipping by value


def test_clip_grad_value_bounds_every_element() -> None:
    clip = 0.01
    raw_model, clipped_model = _lecture_model(5), _lecture_model(5)
    raw = SpySGD(raw_model.parameters(), lr=0.1)
    Trainer(raw_model, raw, next_token_loss, progress=False).fit(_batches(), epochs=1)
    clipped = SpySGD(clipped_model.parameters(), lr=0.1)
    Trainer(clipped_model, clipped, next_token_loss, progress=False, clip_grad_value=clip).fit(
        _batches(), epochs=2
    )

    first = torch.cat([g.flatten() for g in raw.grads[0]]).abs()
    assert bool((first > clip).any()) and bool(((first > 0) & (first < clip)).any())
    assert len(clipped.grads) == 4
    assert all(float(g.abs().max()) <= clip for grads in clipped.grads for g in grads)
    for r, c in zip(raw.grads[0], clipped.grads[0], strict=True):
        assert torch.equal(c, r.clamp(-clip, clip)), "elements within bounds are kept"


def test_clip_by_value_comes_before_clip_by_norm() -> None:
    value, norm = 0.01, 0.02
    raw_model, clipped_model = _lecture_model(5), _lecture_model(5)
    raw = SpySGD(raw_model.parameters(), lr=0.1)
    Trainer(raw_model, raw, next_token_loss, progress=False).fit(_batches()[:1], epochs=1)
    clipped = SpySGD(clipped_model.parameters(), lr=0.1)
    Trainer(
        clipped_model,
        clipped,
        next_token_loss,
        progress=False,
        clip_grad_value=value,
        clip_grad_norm=norm,
    ).fit(_batches()[:1], epochs=1)
    by_value = [g.clamp(-value, value) for g in raw.grads[0]]
    value_norm = float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in by_value])))
    assert value_norm > 2 * norm, "the test needs a norm that clipping changes"
    for expected, got in zip(by_value, clipped.grads[0], strict=True):
        torch.testing.assert_close(got, expected * (norm / value_norm), rtol=1e-5, atol=1e-9)


# Gradient accumulation


def scaled_sums(model: Scalar, batch: FakeBatch) -> LossSum:
    """Total = ``batch.total * w``: a group's mean gradient is its totals over its counts."""
    return LossSum(batch.total * model.w, batch.count)


def test_each_group_steps_on_the_mean_over_its_items_and_the_last_group_steps_too() -> None:
    model = Scalar()
    optimizer = SpySGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, optimizer, scaled_sums, accumulate_grad_batches=2, progress=False)
    batches = [FakeBatch(2.0, 1), FakeBatch(4.0, 3), FakeBatch(6.0, 2), FakeBatch(9.0, 1)]
    history = trainer.fit([*batches, FakeBatch(5.0, 4)], epochs=1)
    # groups: (2 + 4) / (1 + 3), (6 + 9) / (2 + 1), and the trailing group alone: 5 / 4
    assert [float(grads[0]) for grads in optimizer.grads] == pytest.approx([1.5, 5.0, 1.25])
    assert trainer.step == 3 and history.records[0].steps == 3


def test_accumulated_batches_make_the_step_of_the_concatenated_batch() -> None:
    lr = 0.5
    # 6, 4 and 5 tokens: unequal counts, so a mean of batch means would be wrong
    batches = [collate_next_token(NAMES[i:j], eos_id=58) for i, j in [(0, 2), (2, 4), (4, 5)]]
    accumulated = _lecture_model(7)
    Trainer(
        accumulated,
        torch.optim.SGD(accumulated.parameters(), lr=lr),
        next_token_loss,
        accumulate_grad_batches=3,
        progress=False,
    ).fit(batches, epochs=1)

    def one_step(loss: Tensor, model: ConditionalLM[Any]) -> list[Tensor]:
        grads = torch.autograd.grad(loss, list(model.parameters()))
        return [(p - lr * g).detach() for p, g in zip(model.parameters(), grads)]

    reference = _lecture_model(7)
    whole = collate_next_token(NAMES, eos_id=58)
    logits = reference(whole.inputs, whole.lengths, whole.categories)  # (B, T, V)
    mean_over_tokens = nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), whole.targets.reshape(-1), ignore_index=-100
    )
    expected = one_step(mean_over_tokens, reference)
    for got, want in zip(accumulated.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-7)

    batch_means = [
        nn.functional.cross_entropy(
            reference(b.inputs, b.lengths, b.categories).flatten(0, 1), b.targets.flatten()
        )
        for b in batches
    ]
    wrong = one_step(torch.stack(batch_means).mean(), reference)
    assert not all(
        torch.allclose(got, want, rtol=1e-5, atol=1e-7)
        for got, want in zip(accumulated.parameters(), wrong)
    ), "the test tells the mean over tokens from the mean of batch means"


# Divergence


Kind = Literal["ok", "nan loss", "inf gradient", "nan gradient"]


@dataclass
class KindBatch:
    """A one-item batch whose loss or gradient is finite, or not, as its kind says."""

    kind: Kind

    def to(self, device: torch.device) -> Self:
        return self


def kind_loss(model: Scalar, batch: KindBatch) -> LossSum:
    """``w`` (gradient 1), a NaN loss, or a zero loss whose gradient is inf or NaN."""
    w = model.w
    root_at_zero = torch.sqrt(w - w.detach())  # 0, with an infinite derivative
    total = {
        "ok": w * 1.0,
        "nan loss": w * math.nan,
        "inf gradient": root_at_zero,
        "nan gradient": 0.0 * root_at_zero,
    }[batch.kind]
    return LossSum(total, 1)


@pytest.mark.parametrize("kind", ["inf gradient", "nan gradient"])
@pytest.mark.parametrize(
    ("clip_grad_value", "clip_grad_norm"),
    [(None, None), (10.0, None), (None, 10.0)],
    ids=["unclipped", "clipped by value", "clipped by norm"],
)
def test_a_non_finite_gradient_of_a_finite_loss_raises(
    kind: Kind, clip_grad_value: float | None, clip_grad_norm: float | None
) -> None:
    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.25),
        kind_loss,
        progress=False,
        clip_grad_value=clip_grad_value,
        clip_grad_norm=clip_grad_norm,
    )
    with pytest.raises(DivergenceError) as info:
        trainer.fit([KindBatch("ok"), KindBatch(kind)], epochs=1)
    message = str(info.value)
    assert "gradient" in message and kind.split()[0] in message
    assert "epoch 1" in message and "step 2" in message and "learning rate 0.25" in message
    assert float(model.w.detach()) == 1.0 - 0.25, "the bad step changed nothing"


def test_skip_skips_exactly_the_bad_steps() -> None:
    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.125),
        kind_loss,
        on_divergence="skip",
        progress=False,
    )
    kinds: list[Kind] = ["ok", "nan loss", "ok", "inf gradient", "nan gradient", "ok"]
    history = trainer.fit([KindBatch(kind) for kind in kinds], epochs=2)
    assert [r.skipped_steps for r in history.records] == [3, 3]
    assert [r.steps for r in history.records] == [3, 6]
    assert float(model.w.detach()) == 1.0 - 6 * 0.125, "only the good steps moved w"
    assert all(math.isfinite(loss) for loss in history.train_loss)


def test_restore_loads_the_last_epoch_and_stops_without_raising() -> None:
    model = Scalar()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.125, momentum=0.9)
    trainer = Trainer(model, optimizer, kind_loss, on_divergence="restore", progress=False)
    trainer.fit([KindBatch("ok"), KindBatch("ok")], epochs=1)
    good_model = copy.deepcopy(model.state_dict())
    good_optimizer = copy.deepcopy(optimizer.state_dict())

    # epoch 2 moves w and the momentum twice, then diverges
    bad_epoch = [KindBatch("ok"), KindBatch("ok"), KindBatch("nan gradient"), KindBatch("ok")]
    history = trainer.fit(bad_epoch, epochs=3)
    assert trainer.diverged and trainer.stop_training
    assert [r.epoch for r in history.records] == [1] and trainer.epoch == 1
    assert torch.equal(model.w.detach(), good_model["w"])
    assert equal_states(optimizer.state_dict(), good_optimizer)
    assert trainer.step == 2, "the step count of epoch 1 is restored too"

    # a later fit (with other data, say) trains on and records its epochs
    history = trainer.fit([KindBatch("ok")], epochs=2)
    assert not trainer.diverged
    assert [r.epoch for r in history.records] == [1, 2]


# Devices


def test_resolve_device() -> None:
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = resolve_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    elif torch.backends.mps.is_available():
        assert auto.type == "mps"
    else:
        assert auto == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_resolve_device_refuses_cuda_without_cuda(name: str) -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["garbage", "", "cpu:x"])
def test_resolve_device_refuses_garbage(name: str) -> None:
    with pytest.raises(ValueError, match="not a device"):
        resolve_device(name)


@pytest.mark.parametrize("device", ["cpu", None])
def test_mixed_precision_off_cuda_raises(device: str | None) -> None:
    model = Scalar()
    with pytest.raises(ValueError, match="mixed_precision needs a CUDA device"):
        Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            known_sums,
            mixed_precision=True,
            device=device,
        )


def test_without_a_device_batches_stay_put() -> None:
    model = Scalar()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), known_sums)
    batch = FakeBatch(1.0, 1)
    trainer.fit([batch], epochs=1, valid_batches=[batch])
    assert batch.moved_to == []


# Learning-rate schedules


class _Batch(NamedTuple):
    x: Tensor

    def to(self, device: torch.device) -> _Batch:
        return _Batch(self.x.to(device))


def _fit_with_schedule(
    interval: Literal["step", "epoch"], batches: int, epochs: int
) -> tuple[list[float], SpySGD]:
    """Fit a linear model with lr ``0.5 ** n`` after ``n`` scheduler steps; returns the
    recorded learning rates and the optimiser (which saw the learning rate of each step)."""
    model = nn.Linear(2, 1)
    optimizer = SpySGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda n: 0.5**n)

    def objective(model: nn.Module, batch: _Batch) -> LossSum:
        return LossSum(model(batch.x).pow(2).sum(), batch.x.size(0))

    trainer = Trainer(
        model,
        optimizer,
        objective,
        callbacks=[LearningRateScheduler(scheduler, interval)],
        progress=False,
    )
    data = [_Batch(torch.ones(1, 2))] * batches
    history = trainer.fit(data, epochs=epochs)
    return [record.learning_rate for record in history.records], optimizer


def test_lr_scheduler_steps_after_every_optimiser_step() -> None:
    recorded, optimizer = _fit_with_schedule("step", batches=3, epochs=2)
    assert optimizer.lrs == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    assert recorded == [0.5**3, 0.5**6], "the learning rate after each epoch's last step"


def test_lr_scheduler_steps_after_every_epoch() -> None:
    recorded, optimizer = _fit_with_schedule("epoch", batches=3, epochs=2)
    assert optimizer.lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    # an epoch's record is made before the epoch-end callbacks: it holds the epoch's rate
    assert recorded == [1.0, 0.5]
    assert optimizer.param_groups[0]["lr"] == 0.25


def test_unknown_scheduler_interval_is_refused() -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    with pytest.raises(ValueError, match="interval must be 'step' or 'epoch', got 'batch'"):
        LearningRateScheduler(scheduler, "batch")  # type: ignore[arg-type]
