"""Beam search over any :class:`StepModel`: the most likely continuations of each prompt.

Each prompt keeps ``beam_width`` live hypotheses. At every step each live hypothesis is
extended by every token; of all extensions of a prompt, the ``beam_width`` best that do not
end in EOS become the next live hypotheses, and those ending in EOS among the
``beam_width`` best are finished. A hypothesis is ranked by its summed log-probability
divided by its length (tokens scored, EOS included) to the power ``length_penalty``.

Prompts are decoded together, ``B * beam_width`` rows per ``model.step``. A prompt leaves
the batch as soon as it holds ``num_return_sequences`` finished hypotheses that no live
one can beat any more (log-probabilities only fall as a hypothesis grows, which bounds
what a live one can still reach). Live hypotheses are kept as back-pointers, one
``(B, beam_width)`` tensor a step, and spelled out once at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from seqlearn._checks import check_int, check_real
from seqlearn.decode._prompts import (
    apply_processors,
    check_prompts,
    feed_prefixes,
    step,
)
from seqlearn.decode.processors import LogitsProcessor, StepInfo
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decode, Generation, build_generation
from seqlearn.nn.evaluating import evaluating
from seqlearn.nn.state import select_rows

__all__ = ["beam_search"]


def beam_search(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    max_new_tokens: int,
    beam_width: int,
    num_return_sequences: int = 1,
    length_penalty: float = 0.0,
    processors: Sequence[LogitsProcessor] = (),
    bos_id: int | None = None,
    decode: Decode | None = None,
) -> Generation:
    r"""Continue every prefix with its most likely sequences, found by beam search.

    A hypothesis :math:`y` of :math:`L` tokens (EOS included, if it ended with one) is
    ranked by

    .. math::

        \operatorname{score}(y) = \frac{\log P(y \mid \text{prompt})}{L^{\alpha}},

    :math:`\alpha` = ``length_penalty``: 0 ranks by probability alone (short sequences
    win more often), 1 by the mean log-probability per token (longer ones win more
    often). Hypotheses that reach ``max_new_tokens`` tokens without EOS compete too, with
    stop reason ``"max_length"``. With ``processors``, the ranking uses the log-softmax of
    the processed logits; the reported log-probabilities stay the model's.

    With ``beam_width=1`` and ``length_penalty=0`` this is :func:`greedy`; a beam wide
    enough to hold every hypothesis is an exhaustive search. Runs in inference and eval
    mode, like :func:`greedy`.

    Args:
        model: The model to step.
        state: The initial state of the ``B`` rows, holding any conditioning.
        prefixes: ``B`` token sequences to continue; they may differ in length.
        eos_id: The end-of-sequence token.
        max_new_tokens: The most tokens generated per hypothesis, at least 1.
        beam_width: Live hypotheses kept per prompt, at least 1.
        num_return_sequences: Best finished hypotheses returned per prompt, from 1 to
            ``beam_width``.
        length_penalty: The exponent :math:`\alpha`, finite.
        processors: Applied in order to each step's logits before the log-softmax that
            ranks the extensions.
        bos_id: The beginning-of-sequence token, fed first in every row if given; it is
            needed for empty prefixes.
        decode: Turns each sequence's ``tokens`` into text, the result's ``texts``.

    Returns:
        ``num_return_sequences`` sequences per prefix, prefix by prefix, best first. If a
        prompt has fewer possible sequences than that, its last rows are empty, with
        log-probability ``-inf``.

    Raises:
        ValueError: If ``beam_width < 1``, ``num_return_sequences`` is outside
            ``[1, beam_width]``, ``length_penalty`` is not finite, or for any reason listed
            in :func:`greedy`.
        TypeError: If ``beam_width`` or ``num_return_sequences`` is not an int,
            ``length_penalty`` not a real number, or for any reason listed in
            :func:`greedy`.

    Shape:
        - state: a state tree whose tensors have batch size ``B``; ``model.step`` gets
          ``(N,)`` tokens with ``N <= B * beam_width``.

    Example:
        >>> import torch
        >>> class Table:  # after token i, the next token has probabilities probs[i]; 0 is EOS
        ...     probs = torch.tensor([[1.0, 0.0, 0.0], [0.4, 0.0, 0.6], [0.9, 0.1, 0.0]])
        ...     def step(self, tokens, state):
        ...         return self.probs[tokens].log(), state
        >>> out = beam_search(Table(), torch.zeros(1), [[1]], eos_id=0, max_new_tokens=5,
        ...                   beam_width=2, num_return_sequences=2)
        >>> out.tokens, [round(p, 4) for p in torch.tensor(out.logprobs).exp().tolist()]
        ([[1, 2], [1]], [0.54, 0.4])
    """
    if check_int("beam_width", beam_width) < 1:
        raise ValueError(f"expected beam_width >= 1, got {beam_width}")
    if not 1 <= check_int("num_return_sequences", num_return_sequences) <= beam_width:
        raise ValueError(
            f"expected num_return_sequences in [1, beam_width = {beam_width}], "
            f"got {num_return_sequences}"
        )
    check_real("length_penalty", length_penalty)
    if not math.isfinite(length_penalty):
        raise ValueError(f"expected a finite length_penalty, got {length_penalty}")
    prompts = check_prompts(state, prefixes, eos_id, max_new_tokens, bos_id)
    rows = [prefix for prefix in prompts.rows for _ in range(num_return_sequences)]
    if not rows:
        empty = torch.zeros(0, dtype=torch.long)
        nothing = torch.zeros(0, 0)
        return build_generation([], empty.view(0, 0), empty, empty, nothing, empty, decode)
    search = _Search(
        eos_id, max_new_tokens, beam_width, num_return_sequences, length_penalty, processors
    )
    with evaluating(model):
        logits, state = feed_prefixes(model, state, prompts, eos_id, bos_id)
        outputs = search.run(model, state, logits, prompts.prefix)
    return build_generation(rows, *outputs, decode)


class _Finished(NamedTuple):
    """Finished hypotheses, ``(P, n)`` each: a live hypothesis, maybe with EOS after it.

    ``last`` is the step at which that live hypothesis was last extended (``-1``: none,
    the hypothesis is EOS alone) and ``slot`` its place among the step's live ones.
    """

    score: Tensor
    last: Tensor
    slot: Tensor
    eos_logprob: Tensor
    ended: Tensor

    def select(self, index: Tensor) -> _Finished:
        return _Finished(*(field.index_select(0, index) for field in self))


class _Search:
    """The beam search loop and its bookkeeping for one call."""

    def __init__(
        self,
        eos_id: int,
        max_new_tokens: int,
        width: int,
        keep: int,
        alpha: float,
        processors: Sequence[LogitsProcessor],
    ) -> None:
        self.eos_id, self.steps, self.width, self.keep = eos_id, max_new_tokens, width, keep
        self.alpha, self.processors = alpha, processors

    def run(
        self, model: StepModel[StateT], state: StateT, logits: Tensor, prefix: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Search from the logits after the prefixes ``(B, V)``; see ``build_generation``."""
        prompts, vocab_size = logits.shape
        device = logits.device
        dtype = torch.promote_types(logits.dtype, torch.float32)
        steps, width, keep = self.steps, self.width, self.keep
        # Back-pointers: live hypothesis j of prompt b after step t is hypothesis
        # parents[t, b, j] of step t - 1 followed by tokens[t, b, j].
        self.tokens = torch.zeros(steps, prompts, width, dtype=torch.long, device=device)
        self.parents = torch.zeros_like(self.tokens)
        self.logprobs = torch.zeros(steps, prompts, width, dtype=dtype, device=device)
        self.finished = _Finished(
            torch.full((prompts, keep), -math.inf, dtype=dtype, device=device),
            torch.full((prompts, keep), -1, dtype=torch.long, device=device),
            torch.zeros(prompts, keep, dtype=torch.long, device=device),
            torch.zeros(prompts, keep, dtype=dtype, device=device),
            torch.zeros(prompts, keep, dtype=torch.bool, device=device),
        )
        active = torch.arange(prompts, device=device)  # the prompt of each block of rows
        scores = torch.zeros(prompts, 1, dtype=dtype, device=device)  # (P, w) live scores
        history = torch.zeros(prompts, 0, dtype=torch.long, device=device)  # (P * w, k)
        for k in range(steps):
            count, beams = scores.shape  # P prompts, w live hypotheses each
            model_logprobs = logits.to(dtype).log_softmax(dim=-1)  # (P * w, V)
            ranking = model_logprobs
            if self.processors:
                info = StepInfo(prefix[active].repeat_interleave(beams, dim=0), history)
                processed = apply_processors(self.processors, logits, info)
                ranking = processed.to(dtype).log_softmax(dim=-1)
            totals = scores.unsqueeze(2) + ranking.view(count, beams, vocab_size)  # (P, w, V)
            # A row with no possible token (all logits -inf, e.g. all banned) gives NaN.
            totals = totals.masked_fill(totals.isnan(), -math.inf)
            top, index = totals.view(count, -1).topk(min(2 * width, beams * vocab_size), dim=1)
            if top.shape[1] < width:  # a small vocabulary: pad with impossible candidates
                pad = width - top.shape[1]
                top = torch.nn.functional.pad(top, (0, pad), value=-math.inf)
                index = torch.nn.functional.pad(index, (0, pad), value=0)
            parent, token = index // vocab_size, index % vocab_size  # (P, c)
            is_eos = token == self.eos_id
            rank = torch.arange(top.shape[1], device=device)
            ended = is_eos & (rank < width) & top.isfinite()
            eos_logprobs = model_logprobs[:, self.eos_id].view(count, beams).gather(1, parent)
            candidates = _Finished(
                torch.where(ended, top / float(k + 1) ** self.alpha, -math.inf),
                torch.full_like(parent, k - 1),
                parent,
                eos_logprobs,
                ended,
            )
            # The live hypotheses: the `width` best candidates that do not end in EOS.
            pick = (is_eos.long() * top.shape[1] + rank).argsort(dim=1)[:, :width]  # (P, W)
            live = top.gather(1, pick).masked_fill(is_eos.gather(1, pick), -math.inf)
            live_parent, live_token = parent.gather(1, pick), token.gather(1, pick)
            rows = (torch.arange(count, device=device).unsqueeze(1) * beams + live_parent).view(-1)
            live_logprobs = model_logprobs[rows, live_token.view(-1)].view(count, width)
            self.tokens[k].index_copy_(0, active, live_token)
            self.parents[k].index_copy_(0, active, live_parent)
            self.logprobs[k].index_copy_(0, active, live_logprobs)
            if k == steps - 1:  # the live hypotheses end here, at the length limit
                slots = torch.arange(width, device=device).expand(count, width)
                limited = _Finished(
                    live / float(steps) ** self.alpha,
                    torch.full_like(slots, k),
                    slots,
                    torch.zeros_like(live),
                    torch.zeros_like(live_token, dtype=torch.bool),
                )
                self._merge(active, candidates, limited)
                break
            self._merge(active, candidates)
            going = (self._bound(live[:, 0], k) > self.finished.score[active, keep - 1]).nonzero()
            if going.numel() == 0:
                break
            going = going.squeeze(1)
            if going.numel() < count:
                active, live, live_token = active[going], live[going], live_token[going]
                rows = rows.view(count, width)[going].view(-1)
            state = select_rows(state, rows)
            if self.processors:
                history = torch.cat((history[rows], live_token.view(-1, 1)), dim=1)
            scores = live
            logits, state = step(model, live_token.view(-1), state)
        return self._spell_out(dtype)

    def _bound(self, best: Tensor, k: int) -> Tensor:
        """The best score a live hypothesis of log-probability ``best`` can still reach.

        After step ``k`` it holds ``k + 1`` tokens; any finished form of it holds between
        ``k + 2`` and ``steps`` and a log-probability of at most ``best`` (``<= 0``).
        """
        shortest = best / float(k + 2) ** self.alpha
        longest = best / float(self.steps) ** self.alpha
        return torch.maximum(shortest, longest)

    def _merge(self, active: Tensor, *candidates: _Finished) -> None:
        """Keep the ``keep`` best of the finished and the new hypotheses of each prompt."""
        current = self.finished.select(active)
        merged = _Finished(
            *(torch.cat(fields, dim=1) for fields in zip(current, *candidates, strict=True))
        )
        which = merged.score.topk(self.keep, dim=1).indices  # (P, n), best first
        for field, values in zip(self.finished, merged, strict=True):
            field.index_copy_(0, active, values.gather(1, which))

    def _spell_out(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Follow the back-pointers of every finished hypothesis, last step first."""
        finished = self.finished
        prompts, keep = finished.score.shape
        device = finished.score.device
        prompt = torch.arange(prompts, device=device).repeat_interleave(keep)  # (E,)
        found = finished.score.view(-1).isfinite()  # False: fewer sequences were possible
        last = finished.last.view(-1).masked_fill(~found, -1)
        slot = finished.slot.view(-1)
        new = torch.full((prompts * keep, self.steps), self.eos_id, dtype=torch.long, device=device)
        logprobs = torch.zeros(prompts * keep, self.steps, dtype=dtype, device=device)
        for t in range(self.steps - 1, -1, -1):
            inside = last >= t
            new[:, t] = torch.where(inside, self.tokens[t, prompt, slot], self.eos_id)
            logprobs[:, t] = torch.where(inside, self.logprobs[t, prompt, slot], 0.0)
            slot = torch.where(inside, self.parents[t, prompt, slot], slot)
        lengths = last + 1
        ended = finished.ended.view(-1) & found
        with_eos = ended.nonzero().squeeze(1)
        logprobs[with_eos, lengths[with_eos]] = finished.eos_logprob.view(-1)[with_eos]
        totals = logprobs.double().sum(dim=1).masked_fill(~found, -math.inf)
        return new, lengths, ended, logprobs, totals
