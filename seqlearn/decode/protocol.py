"""The one-step protocol that every decoder in :mod:`seqlearn.decode` runs on.

A decoder needs nothing from a model but one step: feed a batch of tokens and a recurrent
state, get next-token logits and the new state. Conditioning (a language category, an
encoded source sentence) lives inside the initial state that the caller builds, e.g. with
``model.initial_state(categories)``, so decoders know nothing about it.
"""

from __future__ import annotations

from typing import TypeVar

from torch import Tensor
from typing_extensions import Protocol

__all__ = ["StateT", "StepModel"]

StateT = TypeVar("StateT")
"""The type of a recurrent state tree (see :func:`~seqlearn.nn.map_state`)."""


class StepModel(Protocol[StateT]):
    """A model that takes one decoding step, carrying a recurrent state.

    The state is a *state tree*: a tensor, or a (named) tuple of state trees, every tensor
    with the batch dimension first (see :func:`~seqlearn.nn.map_state`). Decoders may select or
    repeat batch rows of the state between steps, so every tensor of it must have one row
    per sequence.

    Example:
        >>> import torch
        >>> class Bigram:
        ...     def __init__(self, table):
        ...         self.table = table  # (V, V): row i holds the logits after token i
        ...     def step(self, tokens, state):
        ...         return self.table[tokens], state
        >>> model: StepModel[torch.Tensor] = Bigram(torch.eye(3))
        >>> logits, state = model.step(torch.tensor([2, 0]), torch.zeros(2, 1))
        >>> logits.argmax(dim=-1)
        tensor([2, 0])
    """

    def step(self, tokens: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        """Feed one token per row and return the next-token logits and the new state.

        Args:
            tokens: The current token of each row.
            state: The recurrent state of each row.

        Returns:
            The logits of the next token of each row, and the state after ``tokens``.

        Shape:
            - tokens: ``(B,)``, ``torch.int64``.
            - state: a state tree whose tensors have batch size ``B``.
            - Output: logits ``(B, V)`` and a state tree of the same structure as ``state``.
        """
        ...
