"""Truncated backpropagation through time: a next-token loss that carries the state."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from typing_extensions import final

from seqlearn.data.batching import IGNORE_INDEX
from seqlearn.data.streams import StreamBatch
from seqlearn.nn.state import map_state, rebuild_state, state_leaves
from seqlearn.train.objectives import LossSum

__all__ = ["CarriedStateLoss", "bits_per_token"]

_MODES = ("train", "eval")


@final
class CarriedStateLoss:
    """Next-token cross-entropy over the windows of :class:`~seqlearn.data.StreamBatches`,
    each stream's state carried from one window to the next.

    Each call runs the model from the state the previous call of the same mode (training or
    evaluation) ended in, detached from its graph, so gradients flow back through one
    window only (truncated backpropagation through time) while the model still sees the
    text before the window. A batch with ``reset`` (the first window of a pass) starts
    from the model's initial state. Training and evaluation carry separate states, so a
    validation pass between two training windows disturbs neither.

    The model is called as ``model(inputs, lengths, categories, state, return_state=True)
    -> (logits (B, T, V), state)``, as :class:`~seqlearn.nn.ConditionalLM` takes it (an
    unconditional language model is one with ``num_categories=1``). The loss is the sum
    over targets in nats; the trainer's mean is the loss per token (per character for a
    character model), and :func:`bits_per_token` turns it into bits.

    The carried states are part of :meth:`state_dict`, which a
    :class:`~seqlearn.train.Trainer` writes into its checkpoints, so a run resumed from a
    checkpoint taken between two windows continues from the same state.

    Example:
        >>> import torch
        >>> from seqlearn.data import StreamBatches
        >>> from seqlearn.nn import ConditionalLM, GRUCell
        >>> model = ConditionalLM(GRUCell(1 + 4, 8), vocab_size=6, num_categories=1,
        ...                       embedding_dim=4)
        >>> objective = CarriedStateLoss()
        >>> batches = StreamBatches(torch.randint(6, (41,)), batch_size=2, window=5)
        >>> losses = [objective(model, batch) for batch in batches]
        >>> sum(loss.num_items for loss in losses)  # every next token, once
        40
        >>> objective.state_dict()["train"][0].shape  # the cell's carried (B, H) state
        torch.Size([2, 8])
    """

    def __init__(self) -> None:
        self._states: dict[str, Any] = dict.fromkeys(_MODES)
        self._loaded: dict[str, list[torch.Tensor] | None] = dict.fromkeys(_MODES)

    def __call__(self, model: nn.Module, batch: StreamBatch) -> LossSum:
        """The window's summed next-token loss, from the carried state.

        Args:
            model: The language model (see the class).
            batch: One window of the streams.

        Returns:
            The summed negative log-likelihood in nats and the number of targets.
        """
        mode = "train" if model.training else "eval"
        state = None if batch.reset else self._carried(mode, model, batch)
        logits, final_state = model(
            batch.inputs, batch.lengths, batch.categories, state, return_state=True
        )
        self._states[mode] = map_state(torch.Tensor.detach, final_state)
        self._loaded[mode] = None
        total = nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            batch.targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return LossSum(total, int(batch.lengths.sum()))

    def _carried(self, mode: str, model: nn.Module, batch: StreamBatch) -> Any:
        leaves = self._loaded[mode]
        if leaves is None:
            return self._states[mode]
        with torch.no_grad():  # a zero-step run gives the state's structure
            _, template = model(
                batch.inputs[:, :0], None, batch.categories, None, return_state=True
            )
        device = batch.inputs.device
        return rebuild_state(template, [leaf.to(device) for leaf in leaves])

    def reset(self) -> None:
        """Forget the carried states (both modes).

        Example:
            >>> objective = CarriedStateLoss()
            >>> objective.reset()
            >>> objective.state_dict()
            {'train': None, 'eval': None}
        """
        self._states = dict.fromkeys(_MODES)
        self._loaded = dict.fromkeys(_MODES)

    def state_dict(self) -> dict[str, list[torch.Tensor] | None]:
        """The carried states' tensors, per mode (``None`` where nothing is carried).

        Returns:
            ``{"train": [...] | None, "eval": [...] | None}``: plain lists of tensors,
            which checkpoints store without pickling classes.
        """
        saved: dict[str, list[torch.Tensor] | None] = {}
        for mode in _MODES:
            state, loaded = self._states[mode], self._loaded[mode]
            saved[mode] = (
                loaded
                if loaded is not None
                else (None if state is None else [leaf.cpu() for leaf in state_leaves(state)])
            )
        return saved

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry on from what :meth:`state_dict` returned.

        Args:
            state: A state from :meth:`state_dict`.

        Raises:
            ValueError: If ``state`` is not such a state.
        """
        if not isinstance(state, dict) or set(state) != set(_MODES):
            raise ValueError(
                f"expected a CarriedStateLoss state with the keys {list(_MODES)}, got {state!r}"
            )
        for mode in _MODES:
            leaves = state[mode]
            if leaves is not None and not (
                isinstance(leaves, list) and all(isinstance(t, torch.Tensor) for t in leaves)
            ):
                raise ValueError(f"expected a list of tensors or None for {mode!r}")
        self._states = dict.fromkeys(_MODES)
        self._loaded = {mode: state[mode] for mode in _MODES}


def bits_per_token(loss: float) -> float:
    """A mean loss in nats per token as bits per token (bits per character, ``bpc``, for
    a character model).

    Args:
        loss: Mean negative log-likelihood in nats.

    Returns:
        ``loss / ln 2``.

    Example:
        >>> round(bits_per_token(math.log(2.0)), 6)  # one bit: a fair coin per token
        1.0
    """
    return loss / math.log(2.0)
