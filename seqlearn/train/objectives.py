"""Objectives: how a model and a batch give a loss to minimise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor, nn
from typing_extensions import final

from seqlearn.data.batching import IGNORE_INDEX, ClassificationBatch, NextTokenBatch
from seqlearn.nn.conditional_lm import ConditionalLM
from seqlearn.nn.lengths import valid_steps

__all__ = [
    "ActivationRegularization",
    "ClassifierProtocol",
    "LossSum",
    "NextTokenLoss",
    "Objective",
    "activation_penalty",
    "classification_loss",
    "next_token_loss",
]

ModelT_contra = TypeVar("ModelT_contra", bound=nn.Module, contravariant=True)
BatchT_contra = TypeVar("BatchT_contra", contravariant=True)
ModelT = TypeVar("ModelT", bound=nn.Module)
BatchT = TypeVar("BatchT")


class LossSum(NamedTuple):
    """A batch's loss summed over the items it counts, and how many there were.

    Summing (rather than averaging) per batch lets the trainer average exactly over a whole
    epoch, whatever the batch sizes. The optimiser steps on ``total / num_items``.

    Attributes:
        total: Scalar tensor, the summed loss (differentiable in training).
        num_items: Number of items (tokens or sequences) in ``total``.
        num_correct: For classifiers, how many items the model labels right (gives
            accuracy); ``None`` otherwise.

    Example:
        >>> import torch
        >>> loss = LossSum(torch.tensor(6.0), num_items=3)
        >>> float(loss.total) / loss.num_items, loss.num_correct  # the mean the step follows
        (2.0, None)
    """

    total: Tensor
    num_items: int
    num_correct: int | None = None


class Objective(Protocol[ModelT_contra, BatchT_contra]):
    """A callable ``(model, batch) -> LossSum``; write your own for other tasks.

    Example:
        A classification objective with label smoothing:

        >>> import torch
        >>> from torch import Tensor, nn
        >>> from seqlearn.data import ClassificationBatch, collate_classification
        >>> def smoothed(model: nn.Module, batch: ClassificationBatch) -> LossSum:
        ...     logits = model(batch.inputs, batch.lengths)  # (B, C)
        ...     total = nn.functional.cross_entropy(
        ...         logits, batch.labels, reduction="sum", label_smoothing=0.1
        ...     )
        ...     return LossSum(total, len(batch.labels))
        >>> objective: Objective[nn.Module, ClassificationBatch] = smoothed
        >>> class Unsure(nn.Module):
        ...     def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        ...         return torch.zeros(len(lengths), 2)  # (B, C): both classes alike
        >>> loss = objective(Unsure(), collate_classification([([1, 2], 0), ([3], 1)]))
        >>> round(float(loss.total), 4), loss.num_items  # 2 ln 2
        (1.3863, 2)
    """

    def __call__(self, model: ModelT_contra, batch: BatchT_contra, /) -> LossSum:
        """Compute the batch's summed loss.

        Args:
            model: The model being trained.
            batch: One batch.

        Returns:
            The summed loss and the number of items it covers.
        """
        ...


@final
@dataclass(frozen=True)
class NextTokenLoss:
    """Cross-entropy of each next token, per token or per sequence.

    With ``per="token"`` (the default) the loss is the mean negative log-likelihood per
    predicted token, in nats, so ``exp(loss)`` is the perplexity; with ``per="sequence"``
    it is the summed NLL of each sequence, averaged over sequences.

    Args:
        per: What the mean is over: ``"token"`` or ``"sequence"``.

    Raises:
        ValueError: If ``per`` is neither.

    Example:
        >>> from seqlearn.nn import lecture_generator
        >>> from seqlearn.data.batching import collate_next_token
        >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)
        >>> model = lecture_generator()
        >>> per_token, per_name = NextTokenLoss(), NextTokenLoss("sequence")
        >>> per_token(model, batch).num_items, per_name(model, batch).num_items
        (4, 2)
    """

    per: Literal["token", "sequence"] = "token"

    def __post_init__(self) -> None:
        if self.per not in ("token", "sequence"):
            raise ValueError(f"per must be 'token' or 'sequence', got {self.per!r}")

    def __call__(self, model: ConditionalLM[Any], batch: NextTokenBatch) -> LossSum:
        """The batch's summed NLL and the number of tokens (or sequences) it covers.

        Args:
            model: A conditional language model.
            batch: Inputs, lengths, targets (padding is ``IGNORE_INDEX``) and categories.

        Returns:
            The summed negative log-likelihood in nats and the item count.
        """
        logits = model(batch.inputs, batch.lengths, batch.categories)  # (B, T, V)
        targets = batch.targets.reshape(-1)
        total = nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets, ignore_index=IGNORE_INDEX, reduction="sum"
        )
        if self.per == "sequence":
            return LossSum(total, int(batch.targets.size(0)))
        return LossSum(total, int(torch.count_nonzero(targets != IGNORE_INDEX)))


next_token_loss = NextTokenLoss()
"""Mean next-token cross-entropy per token: :class:`NextTokenLoss` with ``per="token"``.

Example:
    >>> from seqlearn.nn import lecture_generator
    >>> from seqlearn.data import collate_next_token
    >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 5)], eos_id=58)
    >>> loss = next_token_loss(lecture_generator(), batch)
    >>> loss.num_items  # 3 + 1 next tokens
    4
    >>> loss.total.shape, loss.total.requires_grad  # a summed NLL, to backpropagate
    (torch.Size([]), True)
"""


class ClassifierProtocol(Protocol):
    """A model mapping a padded batch ``(B, T)`` with lengths ``(B,)`` to logits ``(B, C)``.

    Example:
        Any such callable trains with :func:`classification_loss`, a module or a function:

        >>> import torch
        >>> from torch import Tensor
        >>> from seqlearn.data import collate_classification
        >>> def always_first(inputs: Tensor, lengths: Tensor) -> Tensor:
        ...     return torch.tensor([[1.0, 0.0]]).expand(len(lengths), 2)  # (B, C)
        >>> classifier: ClassifierProtocol = always_first
        >>> batch = collate_classification([([1, 2], 0), ([3], 1)])
        >>> classification_loss(classifier, batch).num_correct
        1
    """

    def __call__(self, inputs: Tensor, lengths: Tensor, /) -> Tensor:
        """Class logits of each sequence."""
        ...


def classification_loss(
    model: ClassifierProtocol, batch: ClassificationBatch, *, label_smoothing: float = 0.0
) -> LossSum:
    """Cross-entropy of each sequence's label, summed, with the count of correct labels.

    Args:
        model: Any classifier ``(inputs, lengths) -> logits (B, C)``.
        batch: Inputs, lengths and labels.
        label_smoothing: In ``[0, 1)``: the target puts ``1 - label_smoothing`` on the
            label and spreads ``label_smoothing`` evenly over all ``C`` classes (torch's
            ``cross_entropy(label_smoothing=...)``). It applies while the model trains
            only: in evaluation mode (the trainer's validation) the loss is the plain
            cross-entropy, so held-out losses stay comparable. Bind it with
            :func:`functools.partial` to give the trainer a two-argument objective.

    Returns:
        The summed loss, the number of sequences and how many were labelled right.

    Raises:
        ValueError: If ``label_smoothing`` is outside ``[0, 1)``.

    Example:
        >>> import functools
        >>> import torch
        >>> from seqlearn.data.batching import collate_classification
        >>> batch = collate_classification([([1, 2], 0), ([3], 1)])
        >>> model = lambda inputs, lengths: torch.tensor([[2.0, 0.0], [3.0, 0.0]])
        >>> loss = classification_loss(model, batch)
        >>> loss.num_items, loss.num_correct, round(float(loss.total), 4)
        (2, 1, 3.1755)
        >>> smoothed = functools.partial(classification_loss, label_smoothing=0.1)
        >>> round(float(smoothed(model, batch).total), 4)  # targets 0.95 / 0.05
        3.1255
    """
    if label_smoothing:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if not getattr(model, "training", True):
            label_smoothing = 0.0
    logits = model(batch.inputs, batch.lengths)  # (B, C)
    total = nn.functional.cross_entropy(
        logits, batch.labels, reduction="sum", label_smoothing=label_smoothing
    )
    correct = int(torch.count_nonzero(logits.argmax(dim=-1) == batch.labels))
    return LossSum(total, int(batch.labels.size(0)), correct)


@final
@dataclass(frozen=True)
class ActivationRegularization(Generic[ModelT, BatchT]):
    r"""An objective plus activation and temporal activation regularisation (AR and TAR),
    as AWD-LSTM adds them, over the outputs of one sequence layer of the model.

    With :math:`h_t` the layer's outputs at the valid steps of each sequence (padding
    left out):

    .. math::
        \mathrm{AR} = \alpha \operatorname{mean}_{b,t}\, \lVert h_{b,t} \rVert^2 / H,
        \qquad
        \mathrm{TAR} = \beta \operatorname{mean}_{b,\, 1 \le t < L_b}\,
        \lVert h_{b,t} - h_{b,t-1} \rVert^2 / H

    (means over every valid element). The layer's outputs are read by a forward hook
    held only during the call, so the model needs no change; pass the layer whose outputs
    feed the head (a :class:`~seqlearn.nn.ConditionalLM`'s ``model.recurrent``, the top of
    a :class:`~seqlearn.nn.StackedLayers`). The penalty is added to the objective's mean:
    ``total`` grows by ``(AR + TAR) * num_items``. AWD-LSTM computes AR after the output
    dropout; here both terms read the layer's own outputs.

    Args:
        objective: The objective to regularise.
        layer: A module of the model called as ``layer(x, lengths, ...) -> (outputs
            (B, T, H), state)`` once per forward.
        alpha: Weight of AR.
        beta: Weight of TAR.

    Raises:
        ValueError: If ``alpha`` or ``beta`` is negative.
        RuntimeError: When called, if the model did not run ``layer`` exactly once.

    Example:
        >>> import torch
        >>> from seqlearn.data import collate_next_token
        >>> from seqlearn.nn import ConditionalLM, GRUCell
        >>> model = ConditionalLM(GRUCell(2 + 8, 8), vocab_size=8, num_categories=2,
        ...                       embedding_dim=8)
        >>> objective = ActivationRegularization(next_token_loss, model.recurrent,
        ...                                      alpha=2.0, beta=1.0)
        >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 1)], eos_id=7)
        >>> loss, plain = objective(model, batch), next_token_loss(model, batch)
        >>> bool(loss.total > plain.total), loss.num_items == plain.num_items
        (True, True)
    """

    objective: Objective[ModelT, BatchT]
    layer: nn.Module
    alpha: float = 2.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative float, got {value!r}")

    def __call__(self, model: ModelT, batch: BatchT) -> LossSum:
        """The objective's loss with ``(AR + TAR) * num_items`` added to its total.

        Args:
            model: The model being trained.
            batch: One batch.

        Returns:
            The regularised summed loss.
        """
        seen: list[tuple[Tensor, Tensor | None]] = []

        def keep(module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            lengths = args[1] if len(args) > 1 else kwargs.get("lengths")
            seen.append((output[0], lengths))

        handle = self.layer.register_forward_hook(keep, with_kwargs=True)
        try:
            loss = self.objective(model, batch)
        finally:
            handle.remove()
        if len(seen) != 1:
            raise RuntimeError(
                f"ActivationRegularization expected the model to run its layer once, "
                f"got {len(seen)} calls"
            )
        outputs, lengths = seen[0]  # (B, T, H)
        penalty = activation_penalty(outputs, lengths, alpha=self.alpha, beta=self.beta)
        return loss._replace(total=loss.total + penalty * loss.num_items)

    def state_dict(self) -> Any:
        """The wrapped objective's state (``None`` if it keeps none), so checkpoints keep a
        :class:`~seqlearn.train.CarriedStateLoss`'s carried states through the wrapper."""
        save = getattr(self.objective, "state_dict", None)
        return save() if callable(save) else None

    def load_state_dict(self, state: Any) -> None:
        """Hand ``state`` (from :meth:`state_dict`) to the wrapped objective.

        Raises:
            ValueError: If there is a state but the wrapped objective keeps none.
        """
        if state is None:
            return
        load = getattr(self.objective, "load_state_dict", None)
        if not callable(load):
            raise ValueError("the wrapped objective keeps no state to load")
        load(state)


def activation_penalty(
    outputs: Tensor, lengths: Tensor | None, *, alpha: float, beta: float
) -> Tensor:
    """``AR + TAR`` of a layer's outputs over the valid steps (see
    :class:`ActivationRegularization`); zero where there is nothing to average.

    Args:
        outputs: The layer's outputs.
        lengths: Valid length of each sequence, or ``None`` for all ``T``.
        alpha: Weight of AR.
        beta: Weight of TAR.

    Returns:
        A scalar tensor.

    Shape:
        - outputs: ``(B, T, H)``; lengths: ``(B,)``.

    Example:
        >>> import torch
        >>> h = torch.tensor([[[1.0], [3.0], [9.0]]])  # the third step is padding
        >>> activation_penalty(h, torch.tensor([2]), alpha=1.0, beta=1.0)  # (1 + 9) / 2 + 4
        tensor(9.)
    """
    batch, steps, size = outputs.shape
    if lengths is None:
        valid = outputs.new_ones(batch, steps)
    else:
        valid = valid_steps(lengths.to(outputs.device), steps).to(outputs.dtype)  # (B, T)
    squares = outputs.pow(2).sum(-1)  # (B, T)
    ar = (squares * valid).sum() / (valid.sum() * size).clamp(min=1)
    pairs = valid[:, 1:]  # both steps valid: t < length
    change = (outputs[:, 1:] - outputs[:, :-1]).pow(2).sum(-1)  # (B, T - 1)
    tar = (change * pairs).sum() / (pairs.sum() * size).clamp(min=1)
    return alpha * ar + beta * tar
