"""Multi-process training: two CPU processes (gloo, 127.0.0.1) equal one process."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from seqlearn.data.batching import NextTokenCollator
from seqlearn.data.sampler import LengthBucketSampler, ShardedBatchSampler
from seqlearn.nn import ConditionalLM, GRUCell
from seqlearn.train import ModelCheckpoint, Trainer, load_checkpoint, next_token_loss
from seqlearn.train import distributed as processes

EXAMPLES = [
    ([(3 * i + j) % 20 for j in range(2 + i % 7)], i % 3) for i in range(48)
]  # 48 sequences of 2 to 8 tokens in 3 categories


def _model() -> ConditionalLM[Any]:
    generator = torch.Generator().manual_seed(5)
    cell = GRUCell(3 + 8, 16, generator=generator)
    return ConditionalLM(
        cell, vocab_size=21, num_categories=3, embedding_dim=8, generator=generator
    )


def _loader(rank: int | None, world: int) -> DataLoader[Any]:
    sampler: Any = LengthBucketSampler([len(ids) for ids, _ in EXAMPLES], 8, bucket_size=16)
    if rank is not None:
        sampler = ShardedBatchSampler(sampler, num_replicas=world, rank=rank)
    collate = NextTokenCollator(eos_id=20)
    return DataLoader(EXAMPLES, batch_sampler=sampler, collate_fn=collate)  # type: ignore[arg-type]


def _train(rank: int | None, world: int, out: Path) -> Trainer[Any, Any]:
    model = _model()
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=0.01),
        next_token_loss,
        callbacks=[ModelCheckpoint(out / "last.pt")],
        progress=False,
        seed=3,
    )
    trainer.fit(_loader(rank, world), epochs=3, valid_batches=_loader(rank, world))
    return trainer


def _worker(rank: int, world: int, port: int, out: Path) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        assert processes.is_distributed() and processes.rank() == rank
        trainer = _train(rank, world, out / "multi")
        torch.save(
            {"model": trainer.model.state_dict(), "valid": trainer.history.valid_loss},
            out / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(120)
def test_two_processes_train_like_one(tmp_path: Path) -> None:
    single = _train(None, 1, tmp_path / "single")
    mp.spawn(_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for result in ranks:
        for name, weight in single.model.state_dict().items():
            torch.testing.assert_close(result["model"][name], weight, atol=2e-6, rtol=1e-5)
        # validation figures are summed over both processes: the same global mean
        assert result["valid"] == pytest.approx(single.history.valid_loss, rel=1e-6)
    # only rank 0 wrote the checkpoint, and it holds the trained weights
    checkpoint = load_checkpoint(tmp_path / "multi" / "last.pt")
    torch.testing.assert_close(checkpoint["model"], ranks[0]["model"])
    assert checkpoint["epoch"] == 3


def test_sharded_batches_partition_each_global_batch() -> None:
    batches = [[0, 1, 2, 3, 4], [5, 6], [7]]
    shards = [list(ShardedBatchSampler(batches, num_replicas=2, rank=r)) for r in range(2)]
    assert shards == [[[0, 2, 4], [5]], [[1, 3], [6]]]  # [7] has fewer rows than processes


@pytest.mark.parametrize(("world", "rank"), [(2, 2), (2, -1), (0, 0)])
def test_sharded_sampler_rejects_bad_rank(world: int, rank: int) -> None:
    with pytest.raises(ValueError, match=f"rank={rank}"):
        ShardedBatchSampler([[0]], num_replicas=world, rank=rank)


def test_single_process_helpers() -> None:
    assert not processes.is_distributed()
    assert (processes.rank(), processes.world_size(), processes.is_main_process()) == (0, 1, True)
    assert processes.all_reduce_sums([1.0, 2.5]) == [1.0, 2.5]
