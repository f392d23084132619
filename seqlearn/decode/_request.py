"""What a decoder call asks for, and where its search begins (private to :mod:`seqlearn.decode`).

Every decoder turns its arguments into a ``Request`` (checked once, on construction) and
hands it, with a ``Search`` of its own, to ``run_search`` (``_run.py``): that checks the
prompts, feeds their prefixes into a ``Start``, runs the search from there, and builds the
:class:`~seqlearn.decode.Generation` from the ``Decoded`` tensors that the search returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

import torch
from torch import Tensor
from typing_extensions import Protocol

from seqlearn._checks import check_int
from seqlearn.decode.processors import LogitsProcessorList
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decode, Decoded
from seqlearn.nn.state import select_rows


@dataclass(frozen=True, kw_only=True)
class Request:
    """The options every part of a decoder call reads, checked on construction.

    Attributes:
        eos_id: The end-of-sequence token, ``>= 0``.
        max_new_tokens: The most tokens generated per sequence, ``>= 1``.
        bos_id: The beginning-of-sequence token fed first in every row, if any.
        processors: Applied to each step's logits before the choice.
        copies: Sequences returned per prompt (``num_samples``, ``num_return_sequences``).
        decode: Turns each sequence's tokens into text, if given.

    Raises:
        TypeError: If ``eos_id``, ``max_new_tokens`` or ``bos_id`` is not an int.
        ValueError: If one of them is out of range.
    """

    eos_id: int
    max_new_tokens: int
    bos_id: int | None = None
    processors: LogitsProcessorList = field(default_factory=LogitsProcessorList)
    copies: int = 1
    decode: Decode | None = None

    def __post_init__(self) -> None:
        if check_int("max_new_tokens", self.max_new_tokens) < 1:
            raise ValueError(f"expected max_new_tokens >= 1, got {self.max_new_tokens}")
        if check_int("eos_id", self.eos_id) < 0:
            raise ValueError(f"expected eos_id >= 0, got {self.eos_id}")
        if self.bos_id is not None and check_int("bos_id", self.bos_id) < 0:
            raise ValueError(f"expected bos_id >= 0, got {self.bos_id}")


@dataclass(frozen=True)
class Start(Generic[StateT]):
    """The prompts with their prefixes fed: where every search begins.

    Attributes:
        logits: The logits of each prompt's first new token.
        state: The state of each prompt after its prefix.
        prefix: Each prompt's prefix (BOS not included), padded with ``-1``, for
            :class:`~seqlearn.decode.StepInfo`.

    Shape:
        - logits: ``(B, V)``; state: batch size ``B``; prefix: ``(B, P)`` int64.
    """

    logits: Tensor
    state: StateT
    prefix: Tensor

    def repeat(self, copies: int) -> Start[StateT]:
        """Each prompt ``copies`` times in a row (``B * copies`` prompts); the prefixes are fed
        once, their logits and states repeated."""
        if copies == 1:
            return self
        prompts = self.logits.shape[0]
        index = torch.arange(prompts, device=self.logits.device).repeat_interleave(copies)
        return Start(
            self.logits.index_select(0, index),
            select_rows(self.state, index),
            self.prefix.index_select(0, index),
        )


class Search(Protocol):
    """A decoder's own part of a call: generating from the fed prompts."""

    def __call__(self, model: StepModel[StateT], start: Start[StateT], request: Request) -> Decoded:
        """Generate ``request.copies`` sequences per prompt of ``start``, prompt by prompt."""
        ...
