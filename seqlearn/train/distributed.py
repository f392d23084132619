"""Multi-process training on :mod:`torch.distributed`: who am I, and summing across ranks.

Run a training script under ``torchrun --nproc_per_node=N script.py``; the script calls
:func:`torch.distributed.init_process_group` (``"gloo"`` on CPUs, ``"nccl"`` on GPUs) and
otherwise uses the :class:`~seqlearn.train.Trainer` as in one process. The trainer wraps the
model in :class:`~torch.nn.parallel.DistributedDataParallel`, sums loss totals and item
counts over ranks before dividing (so figures are the global means), and only rank 0 logs,
shows progress and writes checkpoints.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["all_reduce_sums", "is_distributed", "is_main_process", "rank", "world_size"]


def is_distributed() -> bool:
    """Whether a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this process logs and writes files: rank 0, or the only process."""
    return rank() == 0


def all_reduce_sums(values: list[float], device: torch.device | None = None) -> list[float]:
    """Sum numbers across all processes (identity without a process group).

    Args:
        values: This process's numbers.
        device: Where the reduction runs (the CUDA device with NCCL); CPU by default.

    Returns:
        The sums, the same on every process.

    Example:
        >>> all_reduce_sums([1.5, 2.0])
        [1.5, 2.0]
    """
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(value) for value in tensor.tolist()]
