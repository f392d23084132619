"""Objectives: how a model and a batch give a loss to minimise."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor, nn

from seqlearn.data.batching import IGNORE_INDEX, NextTokenBatch
from seqlearn.nn.conditional_lm import ConditionalLM

__all__ = ["LossSum", "Objective", "next_token_loss"]

ModelT_contra = TypeVar("ModelT_contra", bound=nn.Module, contravariant=True)
BatchT_contra = TypeVar("BatchT_contra", contravariant=True)


class LossSum(NamedTuple):
    """A batch's loss summed over the items it counts, and how many there were.

    Summing (rather than averaging) per batch lets the trainer average exactly over a whole
    epoch, whatever the batch sizes. The optimiser steps on ``total / num_items``.

    Attributes:
        total: Scalar tensor, the summed loss (differentiable in training).
        num_items: Number of items (tokens or sequences) in ``total``.
    """

    total: Tensor
    num_items: int


class Objective(Protocol[ModelT_contra, BatchT_contra]):
    """A callable ``(model, batch) -> LossSum``; write your own for other tasks."""

    def __call__(self, model: ModelT_contra, batch: BatchT_contra, /) -> LossSum:
        """Compute the batch's summed loss.

        Args:
            model: The model being trained.
            batch: One batch.

        Returns:
            The summed loss and the number of items it covers.
        """
        ...


def next_token_loss(model: ConditionalLM[Any], batch: NextTokenBatch) -> LossSum:
    """Cross-entropy of each next token, summed over the valid (non-padding) tokens.

    Args:
        model: A conditional language model.
        batch: Inputs, lengths, targets (padding is ``IGNORE_INDEX``) and categories.

    Returns:
        The summed negative log-likelihood in nats and the number of predicted tokens.

    Example:
        >>> import torch
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data.batching import collate_next_token
        >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)
        >>> loss = next_token_loss(lecture_generator(), batch)
        >>> loss.num_items
        4
    """
    logits = model(batch.inputs, batch.lengths, batch.categories)  # (B, T, V)
    targets = batch.targets.reshape(-1)
    total = nn.functional.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets, ignore_index=IGNORE_INDEX, reduction="sum"
    )
    count = int(torch.count_nonzero(targets != IGNORE_INDEX))
    return LossSum(total, count)
