"""Tests of the learning-rate finders, against least squares whose divergence rate is known.

For the loss ``mean((x . w - y)^2)`` on a fixed batch, the Hessian is ``H = 2 X^T X / n`` and a
gradient step at rate ``lr`` scales the error ``w - w*`` by ``I - lr H``. With an isotropic
design (``H = lambda I``) and one batch per epoch, the loss above its minimum is multiplied by
``(1 - lr lambda)^2`` every epoch, so an epoch ends above its starting loss exactly when
``lr > 2 / lambda``: the analytic divergence threshold.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from typing_extensions import Self

from seqlearn.data.batching import NextTokenBatch, collate_next_token
from seqlearn.nn import ConditionalLM, lecture_generator
from seqlearn.tokenize import CharTokenizer
from seqlearn.train import LossSum, next_token_loss
from seqlearn.train.lr_finder import (
    DEFAULT_LRS,
    DivergentLRResult,
    RangeTestResult,
    find_divergent_lr,
    lr_range_test,
)

CURVATURE = 1.3  # lambda, every eigenvalue of the Hessian 2 X^T X / n
THRESHOLD = 2 / CURVATURE


@dataclass(frozen=True)
class Regression:
    """A batch of least-squares data: inputs ``x`` (B, I) and targets ``y`` (B,)."""

    x: Tensor
    y: Tensor

    def to(self, device: torch.device) -> Self:
        return type(self)(self.x.to(device), self.y.to(device))


def squared_error(model: nn.Module, batch: Regression) -> LossSum:
    residual = model(batch.x).squeeze(-1) - batch.y  # (B,)
    return LossSum((residual**2).sum(), batch.y.numel())


def _regression(num_items: int = 16, size: int = 3, seed: int = 0) -> Regression:
    """An isotropic design, ``2 X^T X / n = CURVATURE * I``, with a residual the model can't fit."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(num_items, size, generator=generator, dtype=torch.float64))
    x = q * math.sqrt(CURVATURE * num_items / 2)  # orthogonal columns
    noise = torch.randn(num_items, generator=generator, dtype=torch.float64)
    residual = noise - q @ (q.T @ noise)  # orthogonal to the columns of x
    w_star = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return Regression(x, x @ w_star + 0.3 * residual)


def _linear(size: int = 3) -> nn.Linear:
    model = nn.Linear(size, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, 0.5, -0.5]]))
    return model


def _state(model: nn.Module) -> dict[str, Tensor]:
    return {name: value.clone() for name, value in model.state_dict().items()}


def _assert_same_state(before: dict[str, Tensor], model: nn.Module) -> None:
    after = model.state_dict()
    assert before.keys() == after.keys()
    for name, value in before.items():
        assert torch.equal(value, after[name]), name


def test_threshold_of_the_design_is_the_analytic_one() -> None:
    batch = _regression()
    hessian = 2 * batch.x.T @ batch.x / len(batch.y)
    assert torch.linalg.eigvalsh(hessian).max().item() == pytest.approx(CURVATURE)
    assert torch.allclose(hessian, CURVATURE * torch.eye(3, dtype=torch.float64))


def test_finds_the_first_grid_rate_above_the_threshold() -> None:
    result = find_divergent_lr(_linear(), squared_error, [_regression()])
    first_above = min(lr for lr in DEFAULT_LRS if lr > THRESHOLD)
    assert result.divergent_lr == first_above
    assert result.suggested_lr == first_above / 4
    assert list(result.losses) == [lr for lr in DEFAULT_LRS if lr <= first_above]  # stopped
    assert all(result.diverged[lr] is (lr > THRESHOLD) for lr in result.diverged)
    for lr, loss in result.losses.items():  # the excess loss scales by (1 - lr lambda)^2
        assert (loss > result.start_loss) is (abs(1 - lr * CURVATURE) > 1)


def test_without_stop_early_every_rate_is_tried() -> None:
    result = find_divergent_lr(_linear(), squared_error, [_regression()], stop_early=False)
    assert list(result.losses) == list(DEFAULT_LRS)
    assert result.divergent_lr == min(lr for lr in DEFAULT_LRS if lr > THRESHOLD)
    assert result.diverged == {lr: lr > THRESHOLD for lr in DEFAULT_LRS}


def test_refining_tightens_the_bracket_around_the_threshold() -> None:
    coarse = min(lr for lr in DEFAULT_LRS if lr > THRESHOLD)
    low = max(lr for lr in DEFAULT_LRS if lr < THRESHOLD)
    previous = coarse
    for steps in (1, 3, 6):
        result = find_divergent_lr(_linear(), squared_error, [_regression()], refine_steps=steps)
        assert result.divergent_lr is not None
        assert THRESHOLD < result.divergent_lr <= previous
        # Geometric bisection leaves a bracket of ratio (coarse / low) ** (1 / 2**steps).
        assert result.divergent_lr / THRESHOLD <= (coarse / low) ** (1 / 2**steps)
        stable = max(lr for lr, bad in result.diverged.items() if not bad)
        assert stable < THRESHOLD
        assert len(result.losses) == DEFAULT_LRS.index(coarse) + 1 + steps
        assert list(result.losses) == sorted(result.losses)
        previous = result.divergent_lr
    assert previous / THRESHOLD < 1.02


def test_refining_needs_a_stable_rate_below(caplog: pytest.LogCaptureFixture) -> None:
    result = find_divergent_lr(
        _linear(), squared_error, [_regression()], lrs=[5.0, 10.0], refine_steps=3
    )
    assert result.divergent_lr == 5.0
    assert list(result.losses) == [5.0]
    assert "try smaller rates" in caplog.text


def test_no_divergence_gives_no_rate() -> None:
    result = find_divergent_lr(_linear(), squared_error, [_regression()], lrs=[0.1, 1.0])
    assert result.divergent_lr is None
    assert result.suggested_lr is None
    assert result.diverged == {0.1: False, 1.0: False}


def test_a_late_explosion_is_caught_by_the_whole_epoch() -> None:
    # Eigenvalues 1 and 0.1; the error lies almost wholly along the flat direction. At
    # lr = 2.2 the loss falls for the first steps, then the steep direction explodes.
    x = torch.diag(torch.tensor([1.0, math.sqrt(0.1)], dtype=torch.float64)) * math.sqrt(1.0)
    batch = Regression(x, torch.zeros(2, dtype=torch.float64))  # H = diag(1, 0.1)
    model = nn.Linear(2, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1e-3, 3.0]]))
    seen: list[float] = []

    def recording(model: nn.Module, batch: Regression) -> LossSum:
        loss = squared_error(model, batch)
        if model.training:
            seen.append(float(loss.total.detach()) / loss.num_items)
        return loss

    result = find_divergent_lr(model, recording, [batch] * 60, lrs=[2.2])
    assert seen[4] < seen[0]  # it seemed to be going down
    assert result.diverged == {2.2: True}
    assert result.losses[2.2] > 1e3 * result.start_loss


def test_a_non_finite_loss_in_the_epoch_counts_as_divergence() -> None:
    batch = _regression()
    batch = Regression(batch.x.float(), batch.y.float())
    result = find_divergent_lr(_linear().float(), squared_error, [batch] * 50, lrs=[0.1, 1e6])
    assert result.diverged == {0.1: False, 1e6: True}
    assert result.losses[1e6] == math.inf
    assert result.divergent_lr == 1e6


def test_callers_model_is_unchanged_and_every_rate_starts_from_it() -> None:
    model = _linear()
    before = _state(model)
    starts: list[list[Tensor]] = []

    def spy_sgd(parameters: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        parameters = list(parameters)
        assert all(p is not q for p in parameters for q in model.parameters())
        starts.append([p.detach().clone() for p in parameters])
        return torch.optim.SGD(parameters, lr=lr)

    result = find_divergent_lr(
        model, squared_error, [_regression()], make_optimizer=spy_sgd, stop_early=False
    )
    _assert_same_state(before, model)
    assert len(starts) == len(result.losses) == len(DEFAULT_LRS)
    for start in starts:
        assert torch.equal(start[0], before["weight"])


def _dropout_lm(seed: int = 0) -> ConditionalLM[Any]:
    model = lecture_generator(hidden_size=8, generator=torch.Generator().manual_seed(seed))
    model.dropout = 0.3
    return model


def test_every_rate_sees_the_same_randomness_and_the_global_rng_is_kept() -> None:
    draws: list[float] = []

    def noisy(model: nn.Module, batch: Regression) -> LossSum:
        if model.training:
            draws.append(float(torch.rand(())))
        return squared_error(model, batch)

    model = _linear()
    state = torch.get_rng_state()
    find_divergent_lr(model, noisy, [_regression()] * 3, stop_early=False, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert len(draws) == 3 * len(DEFAULT_LRS)  # three training steps per rate
    assert draws == draws[:3] * len(DEFAULT_LRS)
    assert len(set(draws)) == 3


def test_dropout_model_is_repeatable_and_keeps_the_global_rng() -> None:
    batches, model = _name_batches(), _dropout_lm()
    state = torch.get_rng_state()
    first = find_divergent_lr(model, next_token_loss, batches, lrs=[0.1, 1.0], seed=3)
    second = find_divergent_lr(model, next_token_loss, batches, lrs=[0.1, 1.0], seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert first == second


@pytest.mark.parametrize(
    ("lrs", "match"),
    [
        ([], "must not be empty"),
        ([0.1, 0.0], "got 0.0"),
        ([-1.0], "got -1.0"),
        ([0.1, math.inf], "got inf"),
        ([1.0, 0.1], r"strictly increasing, got \[1.0, 0.1\]"),
        ([0.1, 0.1], "strictly increasing"),
    ],
)
def test_bad_rates_are_rejected(lrs: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        find_divergent_lr(_linear(), squared_error, [_regression()], lrs=lrs)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="batches must not be empty"):
        find_divergent_lr(_linear(), squared_error, [])
    with pytest.raises(ValueError, match="refine_steps must be non-negative, got -1"):
        find_divergent_lr(_linear(), squared_error, [_regression()], refine_steps=-1)
    empty = Regression(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    with pytest.raises(ValueError, match="loss at the initial weights is nan"):
        find_divergent_lr(_linear(), squared_error, [empty])


NAMES = ["Smith", "Nguyen", "Schmidt", "Rossi", "Tanaka", "Kowalski", "Dubois", "Novak"]


def _name_batches() -> list[NextTokenBatch]:
    tokenizer = CharTokenizer()
    examples = [(tokenizer.encode(name), i % 4) for i, name in enumerate(NAMES)]
    return [
        collate_next_token(examples[:4], eos_id=tokenizer.eos_id),
        collate_next_token(examples[4:], eos_id=tokenizer.eos_id),
    ]


def test_lecture_generator_end_to_end() -> None:
    model = lecture_generator(hidden_size=16, generator=torch.Generator().manual_seed(0))
    before = _state(model)
    lrs = [1e-2, 1e-1, 1.0, 1e2, 1e4]
    result = find_divergent_lr(model, next_token_loss, _name_batches(), lrs=lrs)
    _assert_same_state(before, model)
    assert result.start_loss == pytest.approx(math.log(59), abs=0.2)
    assert list(result.losses) == lrs[: len(result.losses)]
    assert result.divergent_lr == 1e2
    assert not any(result.diverged[lr] for lr in lrs[:3])
    assert all(result.losses[lr] < result.start_loss for lr in lrs[:3])

    ranged = lr_range_test(model, next_token_loss, _name_batches(), num_steps=40, end_lr=1e4)
    _assert_same_state(before, model)
    assert ranged.suggested_lr is not None
    assert 1e-7 < ranged.suggested_lr < 1e4


# The range test.


def test_range_test_rates_grow_geometrically() -> None:
    result = lr_range_test(_linear(), squared_error, [_regression()], end_lr=1.0, num_steps=50)
    assert len(result.lrs) == 50
    assert not result.diverged
    assert result.lrs[0] == 1e-7
    assert result.lrs[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert all(ratio == pytest.approx(10 ** (7 / 49)) for ratio in ratios)


def test_range_test_records_against_a_plain_loop() -> None:
    batches = [_regression(seed=1), _regression(seed=2)]
    result = lr_range_test(
        _linear(), squared_error, batches, start_lr=1e-3, end_lr=1.0, num_steps=5, smoothing=0.5
    )
    model = _linear()
    average = 0.0
    for i, lr in enumerate(result.lrs):
        assert lr == pytest.approx(1e-3 * 1000 ** (i / 4))
        loss = squared_error(model, batches[i % 2])
        mean = loss.total / loss.num_items
        assert result.losses[i] == pytest.approx(float(mean.detach()))
        average = 0.5 * average + 0.5 * float(mean.detach())
        assert result.smoothed_losses[i] == pytest.approx(average / (1 - 0.5 ** (i + 1)))
        model.zero_grad()
        mean.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p in model.parameters():
                assert p.grad is not None
                p.sub_(lr * p.grad)


def test_range_test_stops_on_divergence_and_suggests_a_stable_rate() -> None:
    model = _linear()
    before = _state(model)
    state = torch.get_rng_state()
    result = lr_range_test(model, squared_error, [_regression()], end_lr=100.0)
    assert torch.equal(torch.get_rng_state(), state)
    _assert_same_state(before, model)
    assert result.diverged
    assert len(result.lrs) < 200
    assert result.lrs[-1] > THRESHOLD  # below it the smoothed loss can only fall
    assert result.suggested_lr is not None
    assert result.suggested_lr < THRESHOLD
    assert result.suggested_lr <= result.min_loss_lr


def test_range_test_can_miss_what_the_whole_epoch_search_finds() -> None:
    # The documented limitation: by the time the rate passes the threshold the error is
    # nearly gone, so up to end_lr = 10 (6.5 times the threshold) the loss has not blown up
    # yet, and the smoothed loss lags behind: its minimum lies far beyond the threshold.
    result = lr_range_test(_linear(), squared_error, [_regression()])
    assert not result.diverged
    assert result.min_loss_lr > 4 * THRESHOLD
    divergent = find_divergent_lr(_linear(), squared_error, [_regression()]).divergent_lr
    assert divergent is not None
    assert divergent < 2.1 * THRESHOLD


def test_range_test_stops_on_a_non_finite_loss() -> None:
    batch = _regression()
    batch = Regression(batch.x.float(), batch.y.float())
    result = lr_range_test(
        _linear().float(), squared_error, [batch], start_lr=1e3, end_lr=1e6, num_steps=100
    )
    assert result.diverged
    assert len(result.lrs) < 100


def test_range_test_rejects_bad_arguments() -> None:
    model, batches = _linear(), [_regression()]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"start_lr": 0.0}, "start_lr=0.0"),
        ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr=0.5"),
        ({"end_lr": math.inf}, "end_lr=inf"),
        ({"num_steps": 1}, "num_steps must be at least 2, got 1"),
        ({"smoothing": 1.0}, r"smoothing must be in \[0, 1\), got 1.0"),
        ({"diverge_factor": 1.0}, "diverge_factor must be above 1, got 1.0"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            lr_range_test(model, squared_error, batches, **kwargs)
    with pytest.raises(ValueError, match="batches must not be empty"):
        lr_range_test(model, squared_error, [])
    empty = Regression(torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    with pytest.raises(ValueError, match="count some items"):
        lr_range_test(model, squared_error, [empty, empty])


def test_range_result_checks_and_edge_cases() -> None:
    with pytest.raises(ValueError, match="one length, got 2, 1 and 2"):
        RangeTestResult((1.0, 2.0), (1.0,), (1.0, 2.0), diverged=False)
    rising = RangeTestResult((1.0, 2.0, 4.0), (1.0, 2.0, 9.0), (1.0, 2.0, 9.0), diverged=True)
    assert rising.suggested_lr is None
    assert rising.min_loss_lr == 1.0
    falling = RangeTestResult((1.0, 2.0, 4.0), (3.0, 2.0, 0.5), (3.0, 2.0, 0.5), diverged=False)
    assert falling.suggested_lr == 2.0
    assert falling.min_loss_lr == 4.0


# Plots.


def _results() -> tuple[DivergentLRResult, RangeTestResult]:
    divergent = find_divergent_lr(
        _linear(), squared_error, [_regression()], stop_early=False, refine_steps=2
    )
    return divergent, lr_range_test(_linear(), squared_error, [_regression()])


def test_plots_write_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    divergent, ranged = _results()
    for result in (divergent, ranged):
        path = tmp_path / f"{type(result).__name__}.png"
        result.plot(path)
        assert path.read_bytes().startswith(b"\x89PNG")


def test_plots_without_matplotlib_say_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    divergent, ranged = _results()
    for result in (divergent, ranged):
        with pytest.raises(ImportError, match=r"the plot extra \(pip install -e .\.\[plot\]"):
            result.plot(tmp_path / "plot.png")
    assert not list(tmp_path.iterdir())
