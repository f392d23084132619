"""Learning-rate finders: the lecture's full-epoch divergence search and a fast range test.

Two ways to choose a learning rate before a long run:

- :func:`find_divergent_lr` is the lecture's exercise: "find the divergent learning rate ...
  train for a whole epoch to test for divergence. The loss might appear to be going down but
  then it could suddenly explode." Every candidate rate trains one full epoch from the same
  initial weights, and diverges if a loss turns non-finite or the epoch ends above the
  starting loss; then train at :attr:`DivergentLRResult.suggested_lr`, a quarter of the
  smallest divergent rate. It costs an epoch per rate, but it catches the late explosions
  that recurrent networks are prone to. Use it for plain SGD, and when the exercise asks.
- :func:`lr_range_test` is the fastai (Leslie Smith) range test: a few hundred steps on one
  copy of the model while the rate grows exponentially, stopped when the smoothed loss blows
  up. It is fast and suggests the rate where the loss falls fastest, a good maximum rate for
  an adaptive optimiser or a one-cycle schedule. But each rate gets only a step or two, so it
  can miss a divergence that builds up over an epoch: check the rate with a full epoch (or
  with :func:`find_divergent_lr` on a short grid around it) before a long SGD run.

Neither changes the caller's model: each trial trains a deep copy. Randomness such as
dropout comes from ``seed`` in a forked generator, so every rate sees the same random draws
and the global random state is left as it was.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import torch
from torch import nn
from typing_extensions import final, override

from seqlearn.train.divergence import DivergenceError
from seqlearn.train.events import Callback, CancelFit, CancelStep, TrainerView
from seqlearn.train.objectives import LossSum, Objective
from seqlearn.train.trainer import Movable, Trainer

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_LRS",
    "DivergentLRResult",
    "OptimizerFactory",
    "RangeTestResult",
    "find_divergent_lr",
    "lr_range_test",
]

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=nn.Module)
BatchT = TypeVar("BatchT", bound=Movable)

OptimizerFactory: TypeAlias = Callable[[Iterable[nn.Parameter], float], torch.optim.Optimizer]
"""Builds an optimiser from parameters and a learning rate, e.g.
``lambda params, lr: torch.optim.Adam(params, lr=lr)``."""

DEFAULT_LRS: Final = tuple(10.0 ** (k / 2) for k in range(-8, 3))
"""Candidate rates of :func:`~seqlearn.train.find_divergent_lr`: half-decades from ``1e-4``
to ``10``."""


def _sgd(parameters: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Plain SGD, the lecture's optimiser."""
    return torch.optim.SGD(parameters, lr=lr)


@dataclass(frozen=True)
class DivergentLRResult:
    """What :func:`find_divergent_lr` measured.

    Args:
        divergent_lr: The smallest rate found to diverge, or ``None`` if none did.
        start_loss: Mean loss over the batches at the initial weights.
        losses: End-of-epoch mean loss of each rate tried, in increasing order of rate
            (``inf`` where the epoch hit a non-finite loss).
        diverged: Whether each rate tried diverged.

    Example:
        >>> import math
        >>> result = DivergentLRResult(
        ...     divergent_lr=1.0,
        ...     start_loss=4.1,
        ...     losses={0.1: 3.2, 0.3: 2.9, 1.0: math.inf},
        ...     diverged={0.1: False, 0.3: False, 1.0: True},
        ... )
        >>> result.suggested_lr  # a quarter of the divergent rate
        0.25
    """

    divergent_lr: float | None
    start_loss: float
    losses: dict[float, float]
    diverged: dict[float, bool]

    @property
    def suggested_lr(self) -> float | None:
        """A quarter of the divergent rate, as the lecture trains; ``None`` without one."""
        return None if self.divergent_lr is None else self.divergent_lr / 4

    def plot(self, path: str | os.PathLike[str]) -> None:
        """Save a PNG of the end-of-epoch loss against the rate (log scale).

        Diverged rates are red crosses (drawn at the top when their loss is off the chart);
        the starting loss is a dashed line and the suggested rate a dotted one.

        Args:
            path: Where to write the image.

        Raises:
            ImportError: If matplotlib is not installed.
        """
        figure = _figure()
        axes = figure.add_subplot()
        stable = {lr: loss for lr, loss in self.losses.items() if not self.diverged[lr]}
        ceiling = 1.2 * max([self.start_loss, *stable.values()])
        axes.plot(list(stable), list(stable.values()), "o-", label="stable")
        bad = [lr for lr, diverged in self.diverged.items() if diverged]
        heights = [min(self.losses[lr], ceiling) for lr in bad]  # inf and nan go on top
        heights = [h if math.isfinite(h) else ceiling for h in heights]
        axes.plot(bad, heights, "rx", markersize=10, label="diverged")
        axes.axhline(self.start_loss, color="grey", linestyle="--", label="start loss")
        if self.suggested_lr is not None:
            axes.axvline(self.suggested_lr, color="green", linestyle=":", label="suggested")
        axes.set_xscale("log")
        axes.set_ylim(top=1.05 * ceiling)
        axes.set_xlabel("learning rate")
        axes.set_ylabel("loss after one epoch")
        axes.legend()
        figure.savefig(path)


@dataclass(frozen=True)
class RangeTestResult:
    """What :func:`lr_range_test` recorded, one entry per optimiser step.

    Args:
        lrs: The rate of each step, growing geometrically.
        losses: The loss of each step's batch, measured before the step.
        smoothed_losses: Exponentially smoothed, bias-corrected ``losses``.
        diverged: Whether the test stopped because the smoothed loss blew up.

    Raises:
        ValueError: If the three sequences differ in length or are empty.

    Example:
        >>> result = RangeTestResult(
        ...     lrs=(0.01, 0.1, 1.0, 10.0),
        ...     losses=(4.0, 3.0, 1.0, 9.0),
        ...     smoothed_losses=(4.0, 3.5, 2.0, 5.0),
        ...     diverged=True,
        ... )
        >>> result.min_loss_lr, result.suggested_lr  # lowest, and falling fastest
        (1.0, 0.1)
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed_losses: tuple[float, ...]
    diverged: bool

    def __post_init__(self) -> None:
        sizes = {len(self.lrs), len(self.losses), len(self.smoothed_losses)}
        if len(sizes) != 1 or not self.lrs:
            raise ValueError(
                "lrs, losses and smoothed_losses must be non-empty and of one length, got "
                f"{len(self.lrs)}, {len(self.losses)} and {len(self.smoothed_losses)}"
            )

    @property
    def min_loss_lr(self) -> float:
        """The rate where the smoothed loss was lowest (fastai's rule takes a tenth of it)."""
        return self.lrs[self._min_index()]

    @property
    def suggested_lr(self) -> float | None:
        """The rate where the smoothed loss falls fastest against ``log(lr)``.

        The first tenth of the steps and everything after the lowest smoothed loss (the
        rising, diverging tail) are left out; ``None`` if fewer than two steps remain.
        """
        first, last = len(self.lrs) // 10, self._min_index()
        if last - first < 1:
            return None
        s, log_lr = self.smoothed_losses, [math.log(lr) for lr in self.lrs]
        slopes = [(s[i + 1] - s[i]) / (log_lr[i + 1] - log_lr[i]) for i in range(first, last)]
        return self.lrs[first + min(range(len(slopes)), key=slopes.__getitem__)]

    def plot(self, path: str | os.PathLike[str]) -> None:
        """Save a PNG of the smoothed loss against the rate (log scale), suggestion marked.

        Args:
            path: Where to write the image.

        Raises:
            ImportError: If matplotlib is not installed.
        """
        figure = _figure()
        axes = figure.add_subplot()
        axes.plot(self.lrs, self.losses, color="grey", alpha=0.3, label="loss")
        axes.plot(self.lrs, self.smoothed_losses, label="smoothed loss")
        if self.suggested_lr is not None:
            axes.axvline(self.suggested_lr, color="green", linestyle=":", label="suggested")
        shown = slice(self._min_index() + 1)  # up to the rising tail
        finite = [v for v in self.losses[shown] + self.smoothed_losses[shown] if math.isfinite(v)]
        low, high = min(finite), max(finite)
        axes.set_ylim(low - 0.1 * (high - low + 1e-12), high + 0.5 * (high - low + 1e-12))
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("loss")
        axes.legend()
        figure.savefig(path)

    def _min_index(self) -> int:
        finite = [i for i, s in enumerate(self.smoothed_losses) if math.isfinite(s)]
        if not finite:
            raise ValueError("no finite smoothed loss was recorded")
        return min(finite, key=self.smoothed_losses.__getitem__)


def find_divergent_lr(
    model: ModelT,
    objective: Objective[ModelT, BatchT],
    batches: Iterable[BatchT],
    *,
    make_optimizer: OptimizerFactory = _sgd,
    lrs: Sequence[float] | None = None,
    stop_early: bool = True,
    refine_steps: int = 0,
    seed: int | None = 0,
) -> DivergentLRResult:
    """Find the smallest learning rate at which one epoch of training diverges.

    The lecture's procedure: for each rate, in increasing order, train a fresh copy of
    ``model`` (the same initial weights every time) for one epoch over ``batches``, then
    score it over the same batches. The rate diverges if a training loss is not finite, or
    if the end-of-epoch loss is not finite or above the starting loss.

    Args:
        model: The model at its initial weights; it is copied, never changed.
        objective: ``(model, batch) -> LossSum``.
        batches: The epoch's batches, read once and reused in the same order for every rate.
        make_optimizer: ``(parameters, lr) -> optimizer``; plain SGD by default.
        lrs: Increasing candidate rates; :data:`~seqlearn.train.lr_finder.DEFAULT_LRS` by default.
        stop_early: Stop at the first rate that diverges (the divergent rate is then
            bracketed by it and the rate before it); else try every rate.
        refine_steps: After the grid, bisect this many times (geometrically) between the
            largest stable rate below the divergent rate and the divergent rate.
        seed: Seed of the randomness (dropout) of each trial, drawn in a forked generator so
            each rate sees the same draws; ``None`` uses the global generator as it is.

    Returns:
        The divergent rate, the starting loss and each rate's outcome.

    Raises:
        ValueError: If ``lrs`` is empty, not positive or not increasing, if ``batches`` is
            empty, if ``refine_steps`` is negative, or if the starting loss is not finite.

    Example:
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data.batching import collate_next_token
        >>> from seqlearn.train import next_token_loss
        >>> model = lecture_generator(hidden_size=8, generator=torch.Generator().manual_seed(0))
        >>> batches = [collate_next_token([([1, 2, 3], 0), ([4, 5], 1)], eos_id=58)]
        >>> result = find_divergent_lr(model, next_token_loss, batches, lrs=[0.1, 1.0, 100.0])
        >>> result.divergent_lr, result.suggested_lr
        (100.0, 25.0)
        >>> result.diverged
        {0.1: False, 1.0: False, 100.0: True}
    """
    rates = _checked_lrs(DEFAULT_LRS if lrs is None else lrs)
    if refine_steps < 0:
        raise ValueError(f"refine_steps must be non-negative, got {refine_steps!r}")
    data = _materialised(batches)
    with _seeded(seed, model):
        scorer = copy.deepcopy(model)  # an optimiser with lr 0, never stepped
        start_loss = Trainer(
            scorer, torch.optim.SGD(scorer.parameters(), lr=0.0), objective, progress=False
        ).evaluate(data)
    if not math.isfinite(start_loss):
        raise ValueError(
            f"the loss at the initial weights is {start_loss}; expected a finite loss "
            "(do the batches count any items?)"
        )
    losses: dict[float, float] = {}
    diverged: dict[float, bool] = {}

    def attempt(lr: float) -> bool:
        loss = _epoch_loss(model, objective, data, make_optimizer, lr, seed)
        losses[lr], diverged[lr] = loss, not math.isfinite(loss) or loss > start_loss
        logger.info("lr %g: loss %.4g -> %.4g, diverged: %s", lr, start_loss, loss, diverged[lr])
        return diverged[lr]

    for lr in rates:
        if attempt(lr) and stop_early:
            break
    divergent = min((lr for lr, bad in diverged.items() if bad), default=None)
    if divergent is not None and refine_steps > 0:
        below = [lr for lr in losses if lr < divergent]
        if not below:
            logger.warning("the smallest rate %g diverges; try smaller rates to refine", divergent)
        else:
            low = max(below)
            for _ in range(refine_steps):
                middle = math.sqrt(low * divergent)
                low, divergent = (low, middle) if attempt(middle) else (middle, divergent)
    return DivergentLRResult(
        divergent, start_loss, dict(sorted(losses.items())), dict(sorted(diverged.items()))
    )


def lr_range_test(
    model: ModelT,
    objective: Objective[ModelT, BatchT],
    batches: Iterable[BatchT],
    *,
    make_optimizer: OptimizerFactory = _sgd,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 200,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    seed: int | None = 0,
) -> RangeTestResult:
    """Run the fastai learning-rate range test on a copy of ``model``.

    Step ``i`` (from 0) trains on the next batch (cycling through ``batches``) at rate
    ``start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))`` and records the batch's
    loss before the step. The smoothed loss is an exponential moving average with bias
    correction, :math:`a_i = \\beta a_{i-1} + (1 - \\beta) \\ell_i`,
    :math:`s_i = a_i / (1 - \\beta^{i+1})`. The test stops early, ``diverged``, once
    :math:`s_i` is not finite or above ``diverge_factor`` times its lowest value so far,
    which assumes a non-negative loss.

    Args:
        model: The model at its initial weights; it is copied, never changed.
        objective: ``(model, batch) -> LossSum``.
        batches: Batches to cycle through, read once.
        make_optimizer: ``(parameters, lr) -> optimizer``; plain SGD by default, pass
            ``lambda params, lr: torch.optim.Adam(params, lr=lr)`` to test Adam.
        start_lr: Rate of the first step.
        end_lr: Rate of the last step.
        num_steps: Number of optimiser steps if the loss does not blow up.
        smoothing: The moving average's :math:`\\beta`, in ``[0, 1)``.
        diverge_factor: Stop when the smoothed loss exceeds its best times this.
        seed: Seed of the randomness (dropout), drawn in a forked generator; ``None`` uses
            the global generator as it is.

    Returns:
        The rates, raw and smoothed losses, and whether the loss blew up.

    Raises:
        ValueError: If the rates are not positive and increasing, ``num_steps`` is below 2,
            ``smoothing`` is outside ``[0, 1)``, ``diverge_factor`` is not above 1,
            ``batches`` is empty or counts no items, or the first loss is not finite.

    Example:
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data.batching import collate_next_token
        >>> from seqlearn.train import next_token_loss
        >>> model = lecture_generator(hidden_size=8, generator=torch.Generator().manual_seed(0))
        >>> batches = [collate_next_token([([1, 2, 3], 0), ([4, 5], 1)], eos_id=58)]
        >>> result = lr_range_test(model, next_token_loss, batches, start_lr=1e-3,
        ...                        end_lr=1e3, num_steps=50, smoothing=0.9)
        >>> result.diverged, len(result.lrs) < 50
        (True, True)
        >>> 1e-3 < result.suggested_lr < result.min_loss_lr < result.lrs[-1]
        True
    """
    if not 0 < start_lr < end_lr or not math.isfinite(end_lr):
        raise ValueError(
            f"expected 0 < start_lr < end_lr < inf, got start_lr={start_lr!r}, end_lr={end_lr!r}"
        )
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2, got {num_steps!r}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    if not diverge_factor > 1.0:
        raise ValueError(f"diverge_factor must be above 1, got {diverge_factor!r}")
    data = _materialised(batches)
    schedule = [start_lr * (end_lr / start_lr) ** (i / (num_steps - 1)) for i in range(num_steps)]
    test = _RangeTest(schedule, smoothing, diverge_factor, len(data))

    def batch_mean(model: ModelT, batch: BatchT) -> LossSum:
        """The batch's mean loss as one item: each step follows it, as the range test's."""
        loss = objective(model, batch)
        return loss if loss.num_items == 0 else LossSum(loss.total / loss.num_items, 1)

    with _seeded(seed, model):
        trial = copy.deepcopy(model)
        optimizer = make_optimizer(trial.parameters(), start_lr)
        trainer = Trainer(trial, optimizer, batch_mean, callbacks=[test], progress=False)
        try:
            trainer.fit(itertools.cycle(data), epochs=1)  # until the test cancels the fit
        except DivergenceError as error:  # a finite loss with a non-finite gradient
            logger.info("range test: %s", error)
            test.diverged = True
    logger.info("range test: %d steps, diverged: %s", len(test.lrs), test.diverged)
    return RangeTestResult(tuple(test.lrs), tuple(test.losses), tuple(test.smoothed), test.diverged)


@final
class _RangeTest(Callback):
    """Records each batch's loss (a mean, as :func:`lr_range_test` passes it) and sets the
    rate of the step it makes, then ends the fit once the smoothed loss blows up (before
    that step) or after the last rate's step."""

    order = -30  # sees each loss before the trainer's DivergenceGuard can stop on it

    def __init__(
        self, schedule: list[float], smoothing: float, diverge_factor: float, num_batches: int
    ) -> None:
        self.schedule, self.smoothing, self.diverge_factor = schedule, smoothing, diverge_factor
        self.num_batches = num_batches
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average, self.best, self.diverged, self.empty_in_a_row = 0.0, math.inf, False, 0

    @override
    def on_loss(self, trainer: TrainerView, loss: LossSum) -> None:
        if loss.num_items == 0:  # nothing to learn from: no step
            self.empty_in_a_row += 1
            if self.empty_in_a_row == self.num_batches:
                raise ValueError("expected batches that count some items, got none")
            raise CancelStep
        self.empty_in_a_row = 0
        step = len(self.lrs)
        lr = self.schedule[step]
        value = float(loss.total.detach())
        if step == 0 and not math.isfinite(value):
            raise ValueError(f"the first loss is {value}; expected a finite loss")
        self.average = self.smoothing * self.average + (1.0 - self.smoothing) * value
        self.lrs.append(lr)
        self.losses.append(value)
        self.smoothed.append(self.average / (1.0 - self.smoothing ** (step + 1)))
        if (
            not math.isfinite(self.smoothed[-1])
            or self.smoothed[-1] > self.diverge_factor * self.best
        ):
            self.diverged = True
            raise CancelFit
        self.best = min(self.best, self.smoothed[-1])
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr

    @override
    def on_step_end(self, trainer: TrainerView, step: int) -> None:
        if len(self.lrs) == len(self.schedule):
            raise CancelFit


def _epoch_loss(
    model: ModelT,
    objective: Objective[ModelT, BatchT],
    data: list[BatchT],
    make_optimizer: OptimizerFactory,
    lr: float,
    seed: int | None,
) -> float:
    """Train a copy of ``model`` for one epoch at ``lr``; its end loss, ``inf`` if it blew up."""
    with _seeded(seed, model):
        trial = copy.deepcopy(model)
        optimizer = make_optimizer(trial.parameters(), lr)
        trainer = Trainer(trial, optimizer, objective, progress=False, seed=seed)
        try:
            trainer.train_epoch(data)
        except DivergenceError as error:
            logger.info("lr %g: %s", lr, error)
            return math.inf
        return trainer.evaluate(data)


def _checked_lrs(lrs: Sequence[float]) -> list[float]:
    rates = [float(lr) for lr in lrs]
    if not rates:
        raise ValueError("lrs must not be empty")
    for lr in rates:
        if not 0 < lr < math.inf:
            raise ValueError(f"lrs must be positive and finite, got {lr!r} in {rates}")
    if any(high <= low for low, high in itertools.pairwise(rates)):
        raise ValueError(f"lrs must be strictly increasing, got {rates}")
    return rates


def _materialised(batches: Iterable[BatchT]) -> list[BatchT]:
    data = list(batches)
    if not data:
        raise ValueError("batches must not be empty")
    return data


@contextmanager
def _seeded(seed: int | None, model: nn.Module) -> Iterator[None]:
    """Seed PyTorch's generators inside, restoring the CPU's and the model's GPUs' after."""
    if seed is None:
        yield
        return
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _figure() -> Figure:
    try:
        from matplotlib.figure import Figure  # type: ignore[import-not-found, unused-ignore]
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib; install it with the plot extra (pip install -e '.[plot]' "
            "in a clone of seqlearn), or pip install matplotlib"
        ) from error
    return Figure(figsize=(6.4, 4.8), layout="constrained")
