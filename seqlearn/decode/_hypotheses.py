"""Beam search's bookkeeping (private to :mod:`seqlearn.decode`): the live hypotheses of
every step as back-pointers, and the best finished hypotheses of each prompt, spelled out
into token rows once the search ends."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from typing_extensions import final

from seqlearn.decode._request import Request
from seqlearn.decode.result import Decoded


class Finished(NamedTuple):
    """Finished hypotheses, ``(P, n)`` each: a live hypothesis, maybe with EOS after it.

    ``last`` is the step at which that live hypothesis was last extended (``-1``: none,
    the hypothesis is EOS alone) and ``slot`` its place among the step's live ones.
    """

    score: Tensor
    last: Tensor
    slot: Tensor
    eos_logprob: Tensor
    ended: Tensor

    def select(self, index: Tensor) -> Finished:
        return Finished(*(field.index_select(0, index) for field in self))


class Live(NamedTuple):
    """The next live hypotheses, ``(P, W)`` each: the candidate's ``score``, ``parent`` and
    ``token``, the model's log-probability of the token, and the row of the parent in the
    model's state."""

    score: Tensor
    parent: Tensor
    token: Tensor
    logprob: Tensor
    row: Tensor

    def select(self, index: Tensor) -> Live:
        return Live(*(field[index] for field in self))


@final
class Record:
    """What a search keeps: back-pointers to every step's live hypotheses, and the best
    finished hypotheses of each prompt.

    Live hypothesis ``j`` of prompt ``b`` after step ``t`` is hypothesis ``parents[t, b, j]``
    of step ``t - 1`` followed by ``tokens[t, b, j]``, whose log-probability under the model
    is ``logprobs[t, b, j]``.

    Shape:
        - tokens, parents, logprobs: ``(M, B, W)``; finished: ``(B, n)`` each field.
    """

    def __init__(self, request: Request, width: int, logits: Tensor) -> None:
        prompts, steps, keep = logits.shape[0], request.max_new_tokens, request.copies
        device, dtype = logits.device, torch.promote_types(logits.dtype, torch.float32)
        self.eos_id = request.eos_id
        self.tokens = torch.zeros(steps, prompts, width, dtype=torch.long, device=device)
        self.parents = torch.zeros_like(self.tokens)
        self.logprobs = torch.zeros(steps, prompts, width, dtype=dtype, device=device)
        self.finished = Finished(
            torch.full((prompts, keep), -math.inf, dtype=dtype, device=device),
            torch.full((prompts, keep), -1, dtype=torch.long, device=device),
            torch.zeros(prompts, keep, dtype=torch.long, device=device),
            torch.zeros(prompts, keep, dtype=dtype, device=device),
            torch.zeros(prompts, keep, dtype=torch.bool, device=device),
        )

    def live(self, k: int, prompt: Tensor, live: Live) -> None:
        """Record the live hypotheses of the prompts ``prompt`` after step ``k``."""
        self.tokens[k].index_copy_(0, prompt, live.token)
        self.parents[k].index_copy_(0, prompt, live.parent)
        self.logprobs[k].index_copy_(0, prompt, live.logprob)

    def merge(self, prompt: Tensor, *candidates: Finished) -> None:
        """Keep the best of the finished and the new hypotheses of the prompts ``prompt``."""
        current = self.finished.select(prompt)
        merged = Finished(
            *(torch.cat(fields, dim=1) for fields in zip(current, *candidates, strict=True))
        )
        which = merged.score.topk(current.score.shape[1], dim=1).indices  # (P, n), best first
        for field, values in zip(self.finished, merged, strict=True):
            field.index_copy_(0, prompt, values.gather(1, which))

    def worst(self, prompt: Tensor) -> Tensor:
        """The score of the last finished hypothesis kept for each prompt of ``prompt``."""
        return self.finished.score[prompt, -1]

    def spell_out(self) -> Decoded:
        """Follow the back-pointers of every finished hypothesis, last step first."""
        finished, steps, device = self.finished, self.tokens.shape[0], self.tokens.device
        prompts, keep = finished.score.shape
        prompt = torch.arange(prompts, device=device).repeat_interleave(keep)  # (B * n,)
        found = finished.score.view(-1).isfinite()  # False: fewer sequences were possible
        last = finished.last.view(-1).masked_fill(~found, -1)
        slot = finished.slot.view(-1)
        new = torch.full((prompts * keep, steps), self.eos_id, dtype=torch.long, device=device)
        logprobs = torch.zeros(new.shape, dtype=self.logprobs.dtype, device=device)
        for t in range(steps - 1, -1, -1):
            inside = last >= t
            new[:, t] = torch.where(inside, self.tokens[t, prompt, slot], self.eos_id)
            logprobs[:, t] = torch.where(inside, self.logprobs[t, prompt, slot], 0.0)
            slot = torch.where(inside, self.parents[t, prompt, slot], slot)
        lengths = last + 1
        ended = finished.ended.view(-1) & found
        with_eos = ended.nonzero().squeeze(1)
        logprobs[with_eos, lengths[with_eos]] = finished.eos_logprob.view(-1)[with_eos]
        totals = logprobs.double().sum(dim=1).masked_fill(~found, -math.inf)
        return Decoded(new, lengths, ended, logprobs, totals)
