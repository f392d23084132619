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

A step of the search (``_Search``) is a few named steps: rank every extension of the live
hypotheses and keep the best candidates (``expand``), finish those that end in EOS
(``ended``), select the next live ones (``select``), record both (``Record``, in
``_hypotheses.py``), and drop the prompts that cannot improve any more (``unbeaten``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from typing_extensions import final

from seqlearn._checks import check_int, check_real
from seqlearn.decode._hypotheses import Finished, Live, Record
from seqlearn.decode._prompts import step
from seqlearn.decode._request import Request, Start
from seqlearn.decode._run import run_search
from seqlearn.decode.processors import LogitsProcessor, LogitsProcessorList, StepInfo
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decode, Decoded, Generation
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
            ranks the extensions (any sequence, as in :func:`greedy`).
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
    request = Request(
        eos_id=eos_id,
        max_new_tokens=max_new_tokens,
        bos_id=bos_id,
        processors=LogitsProcessorList(processors),
        copies=num_return_sequences,
        decode=decode,
    )
    return run_search(model, state, prefixes, request, _Search(beam_width, length_penalty))


class _Candidates(NamedTuple):
    """The best extensions of each prompt's live hypotheses, best first, ``(P, c)`` each.

    ``score`` is the summed ranking log-probability, ``parent`` the live hypothesis
    extended (its slot) and ``token`` the token added.
    """

    score: Tensor
    parent: Tensor
    token: Tensor


class _Beams(NamedTuple):
    """The live hypotheses of the prompts still searching: ``prompt`` ``(P,)``, the prompt
    of each block of rows; ``score`` ``(P, w)``; ``history`` ``(P * w, k)``, their tokens so
    far (kept only for processors)."""

    prompt: Tensor
    score: Tensor
    history: Tensor


@final
class _Search:
    """Beam search as a ``Search``: ``width`` live hypotheses per prompt, finished ones
    ranked with length exponent ``alpha``."""

    def __init__(self, width: int, alpha: float) -> None:
        self.width, self.alpha = width, alpha

    def __call__(self, model: StepModel[StateT], start: Start[StateT], request: Request) -> Decoded:
        """Search from the logits after the prefixes."""
        logits, state, last = start.logits, start.state, request.max_new_tokens - 1
        record = Record(request, self.width, logits)
        beams = _first_beams(logits)
        for k in range(last + 1):
            model_logprobs, ranking = _log_softmaxes(logits, beams, start.prefix, request)
            candidates = self.expand(beams.score, ranking)
            ended = self.ended(k, candidates, model_logprobs, request.eos_id)
            live = self.select(candidates, model_logprobs, request.eos_id)
            record.live(k, beams.prompt, live)
            if k == last:  # the live hypotheses end here too, at the length limit
                record.merge(beams.prompt, ended, self.at_limit(live, k + 1))
                break
            record.merge(beams.prompt, ended)
            going = self.unbeaten(k, live, record.worst(beams.prompt), request.max_new_tokens)
            if going.numel() == 0:
                break
            beams, live = _follow(beams, live, going, bool(request.processors))
            state = select_rows(state, live.row.view(-1))
            logits, state = step(model, live.token.view(-1), state)
        return record.spell_out()

    def expand(self, scores: Tensor, ranking: Tensor) -> _Candidates:
        """The ``2 * width`` best extensions of each prompt's ``w`` live hypotheses (at least
        ``width``, padded with impossible ones for a small vocabulary).

        Shape:
            - scores: ``(P, w)``; ranking: ``(P * w, V)``, log-probabilities; output: ``(P, c)``.
        """
        count, beams = scores.shape
        vocab_size = ranking.shape[1]
        totals = scores.unsqueeze(2) + ranking.view(count, beams, vocab_size)  # (P, w, V)
        # A row with no possible token (all logits -inf, e.g. all banned) gives NaN.
        totals = totals.masked_fill(totals.isnan(), -math.inf)
        top, index = totals.view(count, -1).topk(min(2 * self.width, beams * vocab_size), dim=1)
        if top.shape[1] < self.width:  # a small vocabulary: pad with impossible candidates
            pad = self.width - top.shape[1]
            top = torch.nn.functional.pad(top, (0, pad), value=-math.inf)
            index = torch.nn.functional.pad(index, (0, pad), value=0)
        return _Candidates(top, index // vocab_size, index % vocab_size)

    def ended(
        self, k: int, candidates: _Candidates, model_logprobs: Tensor, eos_id: int
    ) -> Finished:
        """The candidates of step ``k`` that end in EOS among the ``width`` best, finished
        (the others get score ``-inf``)."""
        count, columns = candidates.score.shape
        rank = torch.arange(columns, device=candidates.score.device)
        is_eos = candidates.token == eos_id
        ended = is_eos & (rank < self.width) & candidates.score.isfinite()
        eos_logprobs = model_logprobs[:, eos_id].view(count, -1).gather(1, candidates.parent)
        return Finished(
            torch.where(ended, candidates.score / float(k + 1) ** self.alpha, -math.inf),
            torch.full_like(candidates.parent, k - 1),
            candidates.parent,
            eos_logprobs,
            ended,
        )

    def select(self, candidates: _Candidates, model_logprobs: Tensor, eos_id: int) -> Live:
        """The next live hypotheses: the ``width`` best candidates that do not end in EOS."""
        count, columns = candidates.score.shape
        is_eos = candidates.token == eos_id
        rank = torch.arange(columns, device=is_eos.device)
        pick = (is_eos.long() * columns + rank).argsort(dim=1)[:, : self.width]  # (P, W)
        score = candidates.score.gather(1, pick).masked_fill(is_eos.gather(1, pick), -math.inf)
        parent, token = candidates.parent.gather(1, pick), candidates.token.gather(1, pick)
        beams = model_logprobs.shape[0] // count
        row = torch.arange(count, device=pick.device).unsqueeze(1) * beams + parent  # (P, W)
        logprob = model_logprobs[row.view(-1), token.view(-1)].view(count, self.width)
        return Live(score, parent, token, logprob, row)

    def at_limit(self, live: Live, length: int) -> Finished:
        """The live hypotheses, finished without EOS at the length limit ``length``."""
        slots = torch.arange(self.width, device=live.score.device).expand_as(live.parent)
        return Finished(
            live.score / float(length) ** self.alpha,
            torch.full_like(slots, length - 1),
            slots,
            torch.zeros_like(live.score),
            torch.zeros_like(live.token, dtype=torch.bool),
        )

    def unbeaten(self, k: int, live: Live, worst: Tensor, steps: int) -> Tensor:
        """The prompts whose best live hypothesis after step ``k`` can still beat ``worst``,
        their worst kept finished score (one host sync).

        The live hypothesis holds ``k + 1`` tokens; any finished form of it holds between
        ``k + 2`` and ``steps`` and a log-probability of at most its own (``<= 0``).
        """
        best = live.score[:, 0]
        shortest = best / float(k + 2) ** self.alpha
        longest = best / float(steps) ** self.alpha
        return (torch.maximum(shortest, longest) > worst).nonzero().squeeze(1)


def _first_beams(logits: Tensor) -> _Beams:
    """One live hypothesis per prompt, holding nothing yet."""
    prompts, device = logits.shape[0], logits.device
    dtype = torch.promote_types(logits.dtype, torch.float32)
    return _Beams(
        torch.arange(prompts, device=device),
        torch.zeros(prompts, 1, dtype=dtype, device=device),
        torch.zeros(prompts, 0, dtype=torch.long, device=device),
    )


def _log_softmaxes(
    logits: Tensor, beams: _Beams, prefix: Tensor, request: Request
) -> tuple[Tensor, Tensor]:
    """The model's log-probabilities ``(P * w, V)``, and those that rank the extensions:
    the log-softmax of the processed logits (the model's own without processors)."""
    dtype = beams.score.dtype
    model_logprobs = logits.to(dtype).log_softmax(dim=-1)
    if not request.processors:
        return model_logprobs, model_logprobs
    repeats = beams.score.shape[1]
    info = StepInfo(prefix[beams.prompt].repeat_interleave(repeats, dim=0), beams.history)
    return model_logprobs, request.processors(logits, info).to(dtype).log_softmax(dim=-1)


def _follow(beams: _Beams, live: Live, going: Tensor, keep_history: bool) -> tuple[_Beams, Live]:
    """The live hypotheses of the prompts ``going`` become the next step's beams."""
    prompt, history = beams.prompt, beams.history
    if going.numel() < live.score.shape[0]:  # some prompts are done
        prompt, live = prompt[going], live.select(going)
    if keep_history:
        history = torch.cat((history[live.row.view(-1)], live.token.view(-1, 1)), dim=1)
    return _Beams(prompt, live.score, history), live
