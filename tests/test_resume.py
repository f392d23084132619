"""Tests of resuming from a checkpoint: a resumed run continues exactly as an unbroken one."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch
from helpers import equal_states
from torch import Tensor
from torch.utils.data import DataLoader

from seqlearn.data.batching import NextTokenBatch, NextTokenCollator, collate_next_token
from seqlearn.data.sampler import LengthBucketSampler
from seqlearn.nn import ConditionalLM, GRUCell
from seqlearn.train import (
    Callback,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    Trainer,
    load_checkpoint,
    next_token_loss,
)

VOCAB_SIZE, EOS, NUM_CATEGORIES = 12, 11, 3
EPOCHS, BATCH_SIZE = 4, 4

Schedule = Literal["one cycle per step", "step decay per epoch"]


@pytest.fixture(autouse=True)
def _keep_global_random_states() -> Iterator[None]:
    """These tests seed the global generators and resuming restores them: put them back."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def _examples(seed: int, count: int) -> list[tuple[list[int], int]]:
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(count):
        length = int(torch.randint(1, 8, (1,), generator=generator))
        ids = torch.randint(1, EOS, (length,), generator=generator).tolist()
        examples.append((ids, int(torch.randint(0, NUM_CATEGORIES, (1,), generator=generator))))
    return examples


TRAIN = _examples(0, 24)
VALID = [collate_next_token(_examples(1, 6), eos_id=EOS)]
STEPS_PER_EPOCH = len(TRAIN) // BATCH_SIZE


def _train_batches() -> DataLoader[Any]:
    """Shuffled, length-bucketed batches drawn from the default generator (the trainer's)."""
    sampler = LengthBucketSampler([len(ids) for ids, _ in TRAIN], BATCH_SIZE, bucket_size=8)
    return DataLoader(TRAIN, batch_sampler=sampler, collate_fn=NextTokenCollator(eos_id=EOS))  # type: ignore[arg-type]


def _model(seed: int) -> ConditionalLM[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return ConditionalLM(
        GRUCell(4 + 8, 16, generator=generator),
        vocab_size=VOCAB_SIZE,
        num_categories=NUM_CATEGORIES,
        embedding_dim=8,
        category_dim=4,
        dropout=0.3,
        generator=generator,
    )


@dataclasses.dataclass
class Run:
    model: ConditionalLM[Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    stopper: EarlyStopping
    trainer: Trainer[ConditionalLM[Tensor], NextTokenBatch]

    def fit(self, epochs: int, resume_from: Path | None = None) -> History:
        return self.trainer.fit(
            _train_batches(), epochs=epochs, valid_batches=VALID, resume_from=resume_from
        )


def _run(
    weights_seed: int,
    seed: int | None,
    schedule: Schedule,
    checkpoints: Path,
    checkpoint_first: bool = False,
) -> Run:
    model = _model(weights_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if schedule == "one cycle per step":
        total = EPOCHS * STEPS_PER_EPOCH
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.05, total_steps=total)
        interval: Literal["step", "epoch"] = "step"
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
        interval = "epoch"
    stopper = EarlyStopping("valid_loss", patience=100, restore_best_weights=True)
    callbacks: list[Callback] = [LearningRateScheduler(scheduler, interval), stopper]
    saver = ModelCheckpoint(checkpoints / "epoch-{epoch}.pt")
    callbacks = [saver, *callbacks] if checkpoint_first else [*callbacks, saver]
    trainer = Trainer(
        model, optimizer, next_token_loss, callbacks=callbacks, seed=seed, progress=False
    )
    return Run(model, optimizer, scheduler, stopper, trainer)


def _without_seconds(history: History) -> list[Any]:
    return [dataclasses.replace(record, seconds=0.0) for record in history.records]


@pytest.mark.parametrize(
    ("seed", "schedule", "checkpoint_first"),
    [
        (7, "one cycle per step", False),
        (7, "step decay per epoch", False),
        (None, "one cycle per step", False),
        (None, "step decay per epoch", False),
        (7, "step decay per epoch", True),
        (None, "step decay per epoch", True),
    ],
)
def test_a_resumed_run_continues_exactly(
    tmp_path: Path, seed: int | None, schedule: Schedule, checkpoint_first: bool
) -> None:
    torch.manual_seed(1234)  # without a trainer seed, the checkpoint's random states rule
    unbroken = _run(0, seed, schedule, tmp_path / "unbroken", checkpoint_first)
    unbroken.fit(EPOCHS)
    unbroken_rng = torch.get_rng_state()

    torch.manual_seed(1234)
    interrupted = _run(0, seed, schedule, tmp_path / "interrupted", checkpoint_first)
    interrupted.fit(2)
    assert sorted(p.name for p in (tmp_path / "interrupted").iterdir()) == [
        "epoch-1.pt",
        "epoch-2.pt",
    ]
    torch.rand(10)  # whatever ran since must not matter
    resumed = _run(1, seed, schedule, tmp_path / "resumed", checkpoint_first)
    assert not torch.equal(resumed.model.head.weight, unbroken.model.head.weight)
    history = resumed.fit(EPOCHS, resume_from=tmp_path / "interrupted" / "epoch-2.pt")

    assert history is resumed.trainer.history
    assert [r.epoch for r in history.records] == [1, 2, 3, 4]
    assert _without_seconds(history) == _without_seconds(unbroken.trainer.history)
    assert len({r.learning_rate for r in history.records}) == EPOCHS, "the schedule ran"
    for name, tensor in unbroken.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    assert equal_states(resumed.optimizer.state_dict(), unbroken.optimizer.state_dict())
    assert equal_states(resumed.scheduler.state_dict(), unbroken.scheduler.state_dict())
    assert equal_states(resumed.stopper.state_dict(), unbroken.stopper.state_dict())
    assert (resumed.trainer.epoch, resumed.trainer.step) == (EPOCHS, EPOCHS * STEPS_PER_EPOCH)
    if seed is None:
        assert torch.equal(torch.get_rng_state(), unbroken_rng), "the random stream goes on"


def test_dropout_makes_the_seed_matter(tmp_path: Path) -> None:
    """The exact-resume test is not vacuous: another seed gives other weights."""
    runs = [_run(0, seed, "one cycle per step", tmp_path / str(seed)) for seed in (7, 8)]
    for run in runs:
        run.fit(1)
    assert not torch.equal(runs[0].model.head.weight, runs[1].model.head.weight)


def test_the_schedule_travels_in_the_checkpoint(tmp_path: Path) -> None:
    run = _run(0, 7, "step decay per epoch", tmp_path)
    run.fit(2)
    checkpoint = load_checkpoint(tmp_path / "epoch-2.pt")
    saved = checkpoint["callbacks"][0]["scheduler"]
    assert saved["last_epoch"] == 2
    assert equal_states(saved, run.scheduler.state_dict())

    other = _run(1, 7, "step decay per epoch", tmp_path / "other")
    other.trainer.load_checkpoint(tmp_path / "epoch-2.pt")
    assert other.scheduler.get_last_lr() == run.scheduler.get_last_lr()
    assert run.scheduler.get_last_lr() == pytest.approx([0.01 * 0.7**2])


def test_resuming_with_other_callbacks_raises(tmp_path: Path) -> None:
    run = _run(0, 7, "step decay per epoch", tmp_path)
    run.fit(1)
    model = _model(1)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=0.01),
        next_token_loss,
        callbacks=[EarlyStopping("valid_loss")],
        progress=False,
    )
    with pytest.raises(ValueError, match="states of 3 callbacks, but this trainer has 1"):
        trainer.fit(_train_batches(), epochs=2, resume_from=tmp_path / "epoch-1.pt")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "nothing loaded"
    assert trainer.epoch == 0 and trainer.history.records == []
