"""Tests of the trainer's events: their order, the order of callbacks, cancelling a step or a
fit, and the divergence and clipping callbacks that replaced the loop's flags."""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pytest
import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from typing_extensions import Self, override

from seqlearn.data.batching import NextTokenBatch, collate_next_token
from seqlearn.nn import ConditionalLM, lecture_generator
from seqlearn.train import (
    Callback,
    CancelFit,
    CancelStep,
    DivergenceError,
    DivergenceGuard,
    EpochRecord,
    GradientClipping,
    History,
    LossSum,
    Trainer,
    TrainerView,
    lr_range_test,
    next_token_loss,
)

# A fake task with known losses and gradients


@dataclass
class Batch:
    """A batch of ``count`` items whose summed loss is ``total + slope * count * w``.

    ``kind`` makes the loss or the gradient non-finite.
    """

    total: float
    count: int = 1
    slope: float = 1.0
    kind: Literal["ok", "nan loss", "inf gradient"] = "ok"
    moved_to: list[torch.device] = field(default_factory=list)

    def to(self, device: torch.device) -> Self:
        self.moved_to.append(device)
        return self


class Scalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))


def known_loss(model: Scalar, batch: Batch) -> LossSum:
    w = model.w
    total = batch.total + batch.slope * batch.count * w
    if batch.kind == "nan loss":
        total = total * math.nan
    elif batch.kind == "inf gradient":
        total = total + torch.sqrt(w - w.detach())  # adds 0, with an infinite derivative
    return LossSum(total, batch.count)


def _trainer(callbacks: list[Callback], lr: float = 0.5, **options: Any) -> Trainer[Any, Any]:
    model = Scalar()
    return Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=lr),
        known_loss,
        callbacks=callbacks,
        progress=False,
        **options,
    )


def _w(trainer: Trainer[Any, Any]) -> float:
    return float(trainer.model.w.detach())


def _grad(trainer: TrainerView) -> float:
    """The gradient of the Scalar model's one weight."""
    return float(cast(Tensor, cast(Scalar, trainer.model).w.grad))


@dataclass
class Recorder(Callback):
    """Logs every event it sees, with what it was told."""

    log: list[str]
    name: str = ""
    order: int = 0

    def _add(self, entry: str) -> None:
        self.log.append(f"{self.name}{entry}")

    @override
    def on_fit_start(self, trainer: TrainerView) -> None:
        self._add("fit_start")

    @override
    def on_epoch_start(self, trainer: TrainerView, epoch: int) -> None:
        self._add(f"epoch_start {epoch}")

    @override
    def on_batch_start(self, trainer: TrainerView, batch: Any) -> None:
        self._add(f"batch_start {batch.total:g}")

    @override
    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        self._add(f"loss {float(loss.total.detach()):g}/{loss.num_items}")

    @override
    def on_after_backward(self, trainer: TrainerView) -> None:
        self._add(f"after_backward {_grad(trainer):g}")

    @override
    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        self._add(f"before_step {grad_norm:g}")

    @override
    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        self._add(f"step_end {step}")

    @override
    def on_epoch_end(self, trainer: TrainerView, record: EpochRecord) -> None:
        self._add(f"epoch_end {record.epoch}")

    @override
    def on_epoch_finished(self, trainer: TrainerView, record: EpochRecord) -> None:
        self._add(f"epoch_finished {record.epoch}")

    @override
    def on_fit_end(self, trainer: TrainerView, history: History) -> None:
        self._add("fit_end")


# The events and their order


def test_every_event_in_order_with_accumulation_and_a_trailing_group() -> None:
    log: list[str] = []
    trainer = _trainer([Recorder(log)], accumulate_grad_batches=2)
    # three batches of 1, 2 and 1 items: a group of two batches, then one alone
    trainer.fit([Batch(3.0), Batch(4.0, count=2), Batch(5.0)], epochs=1)
    assert log == [
        "fit_start",
        "epoch_start 1",
        "batch_start 3",
        "loss 4/1",  # 3 + 1 * w, w = 1
        "after_backward 1",  # the summed gradient, not yet divided by the items
        "batch_start 4",
        "loss 6/2",
        "after_backward 3",  # accumulated: 1 + 2
        "before_step 1",  # divided by the 3 items of the group
        "step_end 1",
        "batch_start 5",
        "loss 5.5/1",  # w = 1 - 0.5
        "after_backward 1",
        "before_step 1",
        "step_end 2",
        "epoch_end 1",
        "epoch_finished 1",
        "fit_end",
    ]


def test_batch_start_sees_the_batch_on_the_device_and_loss_sees_the_objectives_sum() -> None:
    seen: list[Any] = []
    returned: list[LossSum] = []

    def objective(model: Scalar, batch: Batch) -> LossSum:
        loss = known_loss(model, batch)
        returned.append(loss)
        return loss

    class Spy(Callback):
        @override
        def on_batch_start(self, trainer: TrainerView, batch: Any) -> None:
            seen.append(list(batch.moved_to))

        @override
        def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
            assert loss is returned[-1] and loss.total.requires_grad
            assert trainer.model.w.grad is None, "before the backward pass"

    model = Scalar()
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.5),
        objective,
        callbacks=[Spy()],
        progress=False,
        device="cpu",
    )
    batch = Batch(1.0)
    trainer.fit([batch], epochs=1, valid_batches=[batch])
    assert seen == [[torch.device("cpu")]], "moved once, before the event"
    assert batch.moved_to == [torch.device("cpu")] * 2, "and once for validation"


def test_callbacks_run_by_order_and_stably_for_equal_orders() -> None:
    log: list[str] = []
    callbacks: list[Callback] = [
        Recorder(log, "late ", order=5),
        Recorder(log, "a ", order=0),
        Recorder(log, "early ", order=-1),
        Recorder(log, "b ", order=0),
    ]
    _trainer(callbacks).fit([Batch(1.0)], epochs=1)
    starts = [entry.split()[0] for entry in log if entry.endswith("fit_start")]
    assert starts == ["early", "a", "b", "late"]
    assert [entry.split()[0] for entry in log if "step_end" in entry] == starts


class GradientSpy(Callback):
    """Records the gradient norm and the gradient it sees before each step."""

    def __init__(self, order: int) -> None:
        self.order = order
        self.seen: list[tuple[float, float]] = []

    @override
    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        self.seen.append((grad_norm, _grad(trainer)))


def test_the_trainers_guard_and_clipping_run_before_default_callbacks() -> None:
    before_clipping, after_clipping = GradientSpy(order=-15), GradientSpy(order=0)
    trainer = _trainer([after_clipping, before_clipping], clip_grad_value=0.25)
    trainer.fit([Batch(0.0, slope=2.0)], epochs=1)  # gradient 2, clipped to 0.25
    assert before_clipping.seen == [(2.0, 2.0)]
    assert after_clipping.seen == [(2.0, 0.25)], "the norm before clipping, the gradient after"
    assert _w(trainer) == 1.0 - 0.5 * 0.25


def test_a_callback_ordered_before_the_guard_sees_a_non_finite_norm_first() -> None:
    first = GradientSpy(order=-30)
    trainer = _trainer([first])
    with pytest.raises(DivergenceError, match="non-finite gradient norm inf at epoch 1, step 1"):
        trainer.fit([Batch(0.0, kind="inf gradient")], epochs=1)
    [(norm, grad)] = first.seen
    assert norm == math.inf and not math.isfinite(grad)


# Cancelling a step


class CancelAt(Callback):
    """Raises CancelStep at one event for the batches whose total is in ``totals``."""

    def __init__(
        self, event: Literal["batch_start", "loss", "after_backward", "before_step"], *totals: float
    ) -> None:
        self.event, self.totals, self.current = event, set(totals), 0.0

    def _maybe_cancel(self, event: str) -> None:
        if event == self.event and self.current in self.totals:
            raise CancelStep

    @override
    def on_batch_start(self, trainer: TrainerView, batch: Any) -> None:
        self.current = batch.total
        self._maybe_cancel("batch_start")

    @override
    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        self._maybe_cancel("loss")

    @override
    def on_after_backward(self, trainer: TrainerView) -> None:
        self._maybe_cancel("after_backward")

    @override
    def on_before_step(self, trainer: TrainerView, grad_norm: float) -> None:
        self._maybe_cancel("before_step")


@pytest.mark.parametrize("event", ["batch_start", "loss", "after_backward", "before_step"])
def test_cancel_step_skips_exactly_that_step(
    event: Literal["batch_start", "loss", "after_backward", "before_step"],
) -> None:
    log: list[str] = []
    later = Recorder(log, order=1)
    trainer = _trainer([CancelAt(event, 2.0), later])
    history = trainer.fit([Batch(1.0), Batch(2.0), Batch(3.0)], epochs=1)
    record = history.records[0]
    assert (record.steps, record.skipped_steps, trainer.step) == (2, 1, 2)
    assert _w(trainer) == 1.0 - 2 * 0.5, "two steps of 0.5"
    assert [entry for entry in log if entry.startswith("step_end")] == ["step_end 1", "step_end 2"]
    # the later callback did not see the cancelled event, nor any event after it
    events = ["batch_start", "loss", "after_backward", "before_step"]
    seen_for_2 = log[log.index("step_end 1") + 1 : log.index("batch_start 3")]
    assert [entry.split()[0] for entry in seen_for_2] == events[: events.index(event)]
    # a batch cancelled in its own events is not in the epoch's figures; the batches of a
    # step cancelled before it is taken are
    losses = {"1": 1.0 + 1.0, "2": 2.0 + 0.5, "3": 3.0 + 0.5}
    counted = ["1", "2", "3"] if event == "before_step" else ["1", "3"]
    assert record.train_loss == pytest.approx(sum(losses[b] for b in counted) / len(counted))
    assert trainer.model.w.grad is None


def test_cancel_step_in_a_group_drops_the_whole_group() -> None:
    trainer = _trainer([CancelAt("loss", 2.0)], accumulate_grad_batches=2)
    spy = GradientSpy(order=0)
    trainer.callbacks.append(spy)  # read when the fit starts
    batches = [Batch(1.0, slope=3.0), Batch(2.0), Batch(3.0, slope=5.0), Batch(4.0, slope=7.0)]
    history = trainer.fit(batches, epochs=1)
    # batch 1's gradient is dropped with the cancelled group; batches 3 and 4 make a step
    assert [grad for _, grad in spy.seen] == [6.0]
    assert (history.records[0].steps, history.records[0].skipped_steps) == (1, 1)


# Cancelling a fit


class CancelFitAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    @override
    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        if trainer.step == self.step:
            raise CancelFit


def test_cancel_fit_ends_the_fit_at_once_without_a_record() -> None:
    log: list[str] = []
    trainer = _trainer([CancelFitAt(step=3), Recorder(log)])
    history = trainer.fit([Batch(1.0), Batch(1.0)], epochs=5)  # two steps an epoch
    assert [record.epoch for record in history.records] == [1]
    assert (trainer.epoch, trainer.step, trainer.stop_training) == (1, 3, True)
    assert "epoch_end 2" not in log and log.count("fit_end") == 1
    assert log[-2:] == ["batch_start 1", "fit_end"], "the cancelling event's later callbacks skip"
    # a later fit trains on
    trainer.callbacks.clear()
    assert [r.epoch for r in trainer.fit([Batch(1.0)], epochs=2).records] == [1, 2]


def test_cancel_fit_in_train_epoch_returns_the_figures_so_far() -> None:
    trainer = _trainer([CancelFitAt(step=1)])
    metrics = trainer.train_epoch([Batch(1.0), Batch(5.0), Batch(7.0)])
    assert (metrics.num_items, metrics.loss, trainer.step) == (1, 2.0, 1)


# The callbacks that replaced the loop's flags


def test_the_trainer_installs_its_guard_and_clipping_without_checkpoint_states() -> None:
    trainer = _trainer([], clip_grad_norm=1.0, on_divergence="skip")
    assert (trainer.clip_grad_norm, trainer.clip_grad_value, trainer.on_divergence) == (
        1.0,
        None,
        "skip",
    )
    assert trainer.callbacks == [] and trainer.state_dict()["callbacks"] == []
    assert _trainer([]).clip_grad_norm is None


def _lm(seed: int = 0) -> ConditionalLM[Any]:
    return lecture_generator(hidden_size=16, generator=torch.Generator().manual_seed(seed))


def _lm_batches() -> list[NextTokenBatch]:
    names = [([1, 2, 3, 4], 0), ([5, 6], 1), ([7, 8, 9], 2), ([10], 0), ([11, 12, 13], 1)]
    return [collate_next_token(names[:3], eos_id=58), collate_next_token(names[3:], eos_id=58)]


@pytest.mark.parametrize(
    "clipping", [{"clip_grad_norm": 0.05}, {"clip_grad_value": 0.01, "clip_grad_norm": 0.02}]
)
def test_gradient_clipping_as_a_callback_equals_the_trainers_arguments(
    clipping: dict[str, float],
) -> None:
    def fit(**options: Any) -> list[Tensor]:
        model = _lm()
        sgd = torch.optim.SGD(model.parameters(), lr=0.5)
        Trainer(model, sgd, next_token_loss, progress=False, **options).fit(_lm_batches(), epochs=2)
        return [p.detach() for p in model.parameters()]

    by_argument = fit(**clipping)
    by_callback = fit(callbacks=[GradientClipping(**clipping)])
    unclipped = fit()
    assert all(torch.equal(a, b) for a, b in zip(by_argument, by_callback, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(by_argument, unclipped, strict=True))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: GradientClipping(),
            ValueError,
            "expected clip_grad_norm, clip_grad_value or both",
        ),
        (lambda: GradientClipping(clip_grad_norm=-1.0), ValueError, "must be positive, got -1.0"),
        (lambda: GradientClipping(clip_grad_value="1"), TypeError, "must be a real number"),  # type: ignore[arg-type]
        (lambda: DivergenceGuard("warn"), ValueError, "got 'warn'"),  # type: ignore[arg-type]
    ],
)
def test_bad_guard_and_clipping_options_raise(
    make: Callable[[], Callback], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make()


def test_skip_of_a_bad_loss_in_a_group_drops_the_group_but_keeps_its_good_figures() -> None:
    trainer = _trainer([], accumulate_grad_batches=2, on_divergence="skip")
    batches = [Batch(1.0), Batch(2.0, kind="nan loss"), Batch(3.0), Batch(4.0)]
    record = trainer.fit(batches, epochs=1).records[0]
    assert (record.steps, record.skipped_steps) == (1, 1)
    assert record.train_loss == pytest.approx((2.0 + 4.0 + 5.0) / 3), "batches 1, 3 and 4"
    assert _w(trainer) == 1.0 - 0.5


class Counter(Callback):
    """Counts finished epochs; its state travels in checkpoints (and is restored)."""

    def __init__(self) -> None:
        self.count = 0

    @override
    def on_epoch_finished(self, trainer: TrainerView, record: EpochRecord) -> None:
        self.count += 1

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    @override
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state["count"])


def test_restore_goes_back_to_the_state_after_every_callback_finished_the_epoch() -> None:
    counter = Counter()
    trainer = _trainer([counter], on_divergence="restore")
    trainer.fit([Batch(1.0)], epochs=2)
    state = copy.deepcopy(trainer.state_dict())
    counter.count = 10  # changed between fits: the new fit's start is what restore loads
    history = trainer.fit([Batch(1.0), Batch(1.0, kind="nan loss")], epochs=4)
    assert trainer.diverged and trainer.stop_training
    assert [record.epoch for record in history.records] == [1, 2]
    assert counter.count == 10 and trainer.step == state["step"] == 2
    assert _w(trainer) == float(state["model"]["w"])


def test_restore_outside_fit_has_nothing_to_restore() -> None:
    trainer = _trainer([], on_divergence="restore")
    with pytest.raises(DivergenceError, match="nothing to restore before a fit has run"):
        trainer.train_epoch([Batch(1.0), Batch(1.0, kind="nan loss")])


def test_restore_in_train_epoch_after_a_fit_loads_the_fits_last_epoch() -> None:
    trainer = _trainer([], on_divergence="restore")
    trainer.fit([Batch(1.0)], epochs=1)
    after_fit = _w(trainer)
    trainer.train_epoch([Batch(1.0), Batch(1.0, kind="nan loss")])
    assert trainer.diverged and _w(trainer) == after_fit and trainer.step == 1


# Host synchronisations


class HostReads(TorchFunctionMode):
    """Counts the calls that read a tensor's value on the host."""

    READS = frozenset({"item", "__bool__", "__int__", "__float__", "__index__", "tolist"})

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        self.count += getattr(func, "__name__", "") in self.READS
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("clip", [None, 1.0])
def test_a_step_reads_the_device_twice_and_the_epoch_once(clip: float | None) -> None:
    trainer = _trainer([], clip_grad_norm=clip)
    trainer.train_epoch([Batch(1.0)])  # warm-up
    reads = HostReads()
    with reads:
        trainer.train_epoch([Batch(float(i)) for i in range(5)])
    # per step: the guard's finite check of the loss and the gradient norm; per epoch: the
    # mean loss
    assert reads.count == 2 * 5 + 1


# The range test runs on the trainer


def test_lr_range_test_trains_through_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    fits: list[int] = []
    fit = Trainer.fit

    def counting_fit(self: Trainer[Any, Any], *args: Any, **kwargs: Any) -> History:
        fits.append(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", counting_fit)
    result = lr_range_test(_lm(), next_token_loss, _lm_batches(), num_steps=10, end_lr=1.0)
    assert fits == [1] and len(result.lrs) == 10 and not result.diverged


def test_lr_range_test_stops_on_a_non_finite_gradient_of_a_finite_loss() -> None:
    batches = [Batch(1.0), Batch(1.0), Batch(1.0, kind="inf gradient"), Batch(1.0)]
    result = lr_range_test(Scalar(), known_loss, batches, start_lr=1e-3, end_lr=1e-2)
    assert result.diverged and len(result.lrs) == 3
    assert all(math.isfinite(loss) for loss in result.losses)


# The import circle is gone


def test_callback_modules_do_not_import_the_trainer() -> None:
    package = Path(__file__).resolve().parents[1] / "seqlearn" / "train"
    for name in ("events", "callbacks", "clipping", "divergence"):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "seqlearn.train.trainer" not in imported, name
