"""Greedy decoding and sampling over any :class:`StepModel`, a batch at a time.

Each row starts from its own prompt: a row of the initial state (holding any
conditioning) and a prefix (the lecture's start letter is a prefix of one token; prefixes
may differ in length, and may be empty with a BOS token). The prefix tokens are fed one by
one through ``model.step``, carrying the state, so no prefix is ever re-run; a row leaves
this phase as soon as its prefix is in. Its last logits give the first new token, which is
fed back until the row picks EOS or has generated ``max_new_tokens`` tokens.

Rows generate in lockstep, one ``model.step`` per time step for the whole batch, and the
batch *shrinks*: a row that picked EOS is dropped from the state with
:func:`~seqlearn.nn.state.select_rows` and never stepped again. The loop (``_Lockstep``)
keeps its bookkeeping in preallocated tensors (``_Tape``), with no Python loop over rows
and one host sync a step (to learn whether any row ended).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor
from typing_extensions import final

from seqlearn._checks import check_int, check_real
from seqlearn.decode._prompts import step
from seqlearn.decode._request import Request, Start
from seqlearn.decode._run import run_search
from seqlearn.decode.processors import LogitsProcessor, LogitsProcessorList, StepInfo, Temperature
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decode, Decoded, Generation
from seqlearn.nn.state import select_rows

__all__ = ["greedy", "sample"]

ChooseNext = Callable[[Tensor], Tensor]
"""Picks the next token of each row: processed logits ``(N, V)`` -> tokens ``(N,)`` int64."""


def greedy(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None = None,
    processors: Sequence[LogitsProcessor] = (),
    decode: Decode | None = None,
) -> Generation:
    """Continue every prefix with the most likely next token until EOS.

    Runs under :func:`torch.inference_mode`. If ``model`` is a :class:`torch.nn.Module`, it
    (with every submodule) is in eval mode during decoding, and each module's previous
    training flag is restored afterwards, also when an error is raised.

    Args:
        model: The model to step.
        state: The initial state of the ``B`` rows, holding any conditioning (e.g.
            ``model.initial_state(categories)``).
        prefixes: ``B`` token sequences to continue; they may differ in length.
        eos_id: The end-of-sequence token; a row stops when it picks it.
        max_new_tokens: The most tokens generated per row, at least 1.
        bos_id: The beginning-of-sequence token. If given, it is fed first in every row
            (a model trained with BOS expects it); it is needed for empty prefixes.
        processors: Applied in order to each step's logits before the argmax (e.g.
            :class:`~seqlearn.decode.BanTokens`, :class:`~seqlearn.decode.MinLength`): any
            sequence of processors, such as a :class:`~seqlearn.decode.LogitsProcessorList`
            (the decoder applies a copy of it as one).
        decode: Turns each row's ``tokens`` into text, the result's ``texts``.

    Returns:
        One sequence per prefix. Log-probabilities are the model's, before processors.

    Raises:
        ValueError: If an argument is out of range, ``len(prefixes)`` differs from the
            batch size of ``state`` (its first tensor), a prefix is empty without
            ``bos_id``, or a token is outside the vocabulary ``[0, V)``. ``V`` is only
            known from the first logits, so the tokens of the first step (BOS, or each
            prefix's first token) reach ``model.step`` unchecked against it, and an
            embedding may raise its own error for them first.
        TypeError: If ``state`` holds no tensor, ``prefixes`` is not a sequence of token
            id sequences, or a token, ``eos_id``, ``bos_id`` or ``max_new_tokens`` is not
            an int (a float such as ``3.0`` is refused, not truncated); the message names
            it (``prefixes[1][0]``).

    Shape:
        - state: a state tree whose tensors have batch size ``B``; the tokens passed to
          ``model.step`` are ``(N,)`` int64 on the device of its first tensor, where
          ``N <= B`` counts the unfinished rows.
        - logits returned by ``model.step``: ``(N, V)``.

    Example:
        >>> import torch
        >>> class Bigram:  # token i is followed by token (i + 1) % 4; 0 is EOS
        ...     def step(self, tokens, state):
        ...         return torch.eye(4).roll(1, dims=1)[tokens], state
        >>> out = greedy(Bigram(), torch.zeros(2, 1), [[1], [3, 2]], eos_id=0, max_new_tokens=5)
        >>> out.tokens, out.new_tokens, out.stop_reasons
        ([[1, 2, 3], [3, 2, 3]], [[2, 3], [3]], ['eos', 'eos'])
    """
    request = Request(
        eos_id=eos_id,
        max_new_tokens=max_new_tokens,
        bos_id=bos_id,
        processors=LogitsProcessorList(processors),
        decode=decode,
    )
    return run_search(model, state, prefixes, request, _Lockstep(_argmax))


def sample(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    processors: Sequence[LogitsProcessor] = (),
    num_samples: int = 1,
    bos_id: int | None = None,
    generator: torch.Generator | None = None,
    decode: Decode | None = None,
) -> Generation:
    """Continue every prefix with tokens drawn from the softmax of the processed logits.

    Each step divides the logits by ``temperature``, applies ``processors`` in order (e.g.
    :class:`~seqlearn.decode.TopK`, :class:`~seqlearn.decode.TopP`,
    :class:`~seqlearn.decode.MinP`), and draws the next token from the softmax of the
    result: ``temperature=t`` is the same as ``processors=[Temperature(t), *processors]``.
    Same loop, modes and stopping rule as :func:`greedy`. Draws use ``generator`` (which
    must live on the logits' device), so a seeded generator makes the output reproducible.

    Args:
        model: The model to step.
        state: The initial state of the ``B`` rows, holding any conditioning.
        prefixes: ``B`` token sequences to continue; they may differ in length.
        eos_id: The end-of-sequence token; a row stops when it draws it.
        max_new_tokens: The most tokens generated per row, at least 1.
        temperature: Positive, finite divisor of the logits, applied first.
        processors: Applied in order after the temperature (any sequence, as in
            :func:`greedy`).
        num_samples: Sequences drawn per prefix, at least 1. Each prefix is fed once; its
            state is then repeated for the draws.
        bos_id: The beginning-of-sequence token, fed first in every row if given; it is
            needed for empty prefixes.
        generator: Source of randomness; the global one if None.
        decode: Turns each sequence's ``tokens`` into text, the result's ``texts``.

    Returns:
        ``num_samples`` sequences per prefix, prefix by prefix. Log-probabilities are the
        model's, before the temperature and the processors.

    Raises:
        ValueError: If ``temperature`` is not positive and finite, ``num_samples < 1``,
            or for any reason listed in :func:`greedy`.
        TypeError: If ``temperature`` is not a real number, ``num_samples`` not an int,
            or for any reason listed in :func:`greedy`.

    Shape:
        - state: a state tree whose tensors have batch size ``B``.

    Example:
        >>> import math
        >>> import torch
        >>> from seqlearn.decode import TopK
        >>> class Uniform:  # every token equally likely; 0 is EOS
        ...     def step(self, tokens, state):
        ...         return torch.zeros(len(tokens), 4), state
        >>> def draw(seed):
        ...     g = torch.Generator().manual_seed(seed)
        ...     return sample(Uniform(), torch.zeros(2, 1), [[1], [2]], eos_id=0,
        ...                   max_new_tokens=8, processors=[TopK(3)], num_samples=2,
        ...                   generator=g)
        >>> out = draw(0)
        >>> out == draw(0), len(out.tokens), [tokens[0] for tokens in out.tokens]
        (True, 4, [1, 1, 2, 2])
        >>> round(out.logprobs[0], 4) == round(math.log(0.25) * len(out.token_logprobs[0]), 4)
        True
    """
    check_real("temperature", temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"expected a positive, finite temperature, got {temperature}")
    if check_int("num_samples", num_samples) < 1:
        raise ValueError(f"expected num_samples >= 1, got {num_samples}")
    chain = LogitsProcessorList(processors)
    if temperature != 1.0:
        chain.insert(0, Temperature(temperature))
    request = Request(
        eos_id=eos_id,
        max_new_tokens=max_new_tokens,
        bos_id=bos_id,
        processors=chain,
        copies=num_samples,
        decode=decode,
    )
    return run_search(
        model, state, prefixes, request, _Lockstep(partial(_draw, generator=generator))
    )


def _argmax(logits: Tensor) -> Tensor:  # (N, V) -> (N,)
    return logits.argmax(dim=-1)


def _draw(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One token per row from ``softmax(logits)``, by inverting the cumulative distribution.

    One uniform number per row: many times faster on CPU than :func:`torch.multinomial`,
    which draws an exponential number per token.
    """
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    weights = (logits - logits.amax(dim=-1, keepdim=True)).exp()  # (N, V), unnormalised
    cumulative = weights.cumsum(dim=-1)  # (N, V)
    uniform = torch.rand(
        logits.shape[0], 1, generator=generator, dtype=weights.dtype, device=weights.device
    )
    # right=True: the first token whose cumulative mass exceeds u * total, which has mass.
    tokens = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)
    tokens = tokens.clamp_(max=logits.shape[1] - 1).squeeze(1)  # (N,)
    # Unless rounding put u * total at the total: take the last token with mass then.
    massless = weights.gather(1, tokens.unsqueeze(1)).squeeze(1) == 0
    if bool(massless.any()):
        tokens[massless] = (weights[massless] > 0).cumsum(dim=-1).argmax(dim=-1)
    return tokens


@final
class _Lockstep:
    """The search of :func:`greedy` and :func:`sample`: all rows pick a token a step, with
    ``choose``, and a row that picks EOS leaves the batch."""

    def __init__(self, choose: ChooseNext) -> None:
        self.choose = choose

    def __call__(self, model: StepModel[StateT], start: Start[StateT], request: Request) -> Decoded:
        """Generate ``request.copies`` sequences per prompt; all rows start at the same step."""
        start = start.repeat(request.copies)
        logits, state, processors = start.logits, start.state, request.processors
        tape = _Tape(request, logits)
        for k in range(request.max_new_tokens):
            scores = processors(logits, tape.info(start.prefix)) if processors else logits
            tokens = self.choose(scores)  # (N,)
            tape.write(tokens, logits)
            if k == request.max_new_tokens - 1:
                break
            going = tokens != request.eos_id  # (N,)
            if not bool(going.all()):  # one sync a step, not one per row
                keep = going.nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                tape.keep(keep)
                tokens, state = tokens[keep], select_rows(state, keep)
            logits, state = step(model, tokens, state)
        return tape.decoded()


@final
class _Tape:
    """What ``_Lockstep``'s rows have generated: tokens and the model's log-probabilities.

    ``active`` maps each row still generating (a row of the model's state) to its row of the
    tape; a row that ends keeps its tape row, EOS-filled after its end.

    Shape:
        - tokens, logprobs: ``(R, M)``, ``M`` = ``max_new_tokens``; active: ``(N,)``.
    """

    def __init__(self, request: Request, logits: Tensor) -> None:
        rows, steps, device = logits.shape[0], request.max_new_tokens, logits.device
        self.eos_id = request.eos_id
        self.dtype = torch.promote_types(logits.dtype, torch.float32)
        self.tokens = torch.full((rows, steps), self.eos_id, dtype=torch.long, device=device)
        self.logprobs = torch.zeros(rows, steps, dtype=self.dtype, device=device)
        self.active = torch.arange(rows, device=device)
        self.written = 0

    def info(self, prefix: Tensor) -> StepInfo:
        """The prefix and generated tokens of the rows still generating, for the processors."""
        generated = self.tokens[:, : self.written].index_select(0, self.active)  # (N, k)
        return StepInfo(prefix.index_select(0, self.active), generated)

    def write(self, tokens: Tensor, logits: Tensor) -> None:
        """Write the next column: the tokens ``(N,)`` of the rows still generating, and their
        log-probabilities under the model's raw logits ``(N, V)``, before any processor."""
        raw = logits.to(self.dtype)
        chosen = raw.gather(1, tokens.unsqueeze(1)).squeeze(1) - raw.logsumexp(dim=-1)
        self.tokens[self.active, self.written] = tokens
        self.logprobs[self.active, self.written] = chosen
        self.written += 1

    def keep(self, index: Tensor) -> None:
        """Keep generating only the rows ``index`` of those still generating."""
        self.active = self.active[index]

    def decoded(self) -> Decoded:
        """The tape's rows, with each row's length, EOS flag and total log-probability."""
        ended = self.tokens == self.eos_id  # (R, M)
        finished = ended.any(dim=1)
        lengths = torch.where(finished, ended.int().argmax(dim=1), self.tokens.shape[1])
        totals = self.logprobs.double().sum(dim=1)  # zeros after each row's end
        return Decoded(self.tokens, lengths, finished, self.logprobs, totals)
