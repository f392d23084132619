"""Greedy decoding and sampling over any :class:`StepModel`, a batch at a time.

Each row starts from its own prompt: a row of the initial state (holding any
conditioning) and a prefix (the lecture's start letter is a prefix of one token; prefixes
may differ in length, and may be empty with a BOS token). The prefix tokens are fed one by
one through ``model.step``, carrying the state, so no prefix is ever re-run; a row leaves
this phase as soon as its prefix is in. Its last logits give the first new token, which is
fed back until the row picks EOS or has generated ``max_new_tokens`` tokens.

Rows generate in lockstep, one ``model.step`` per time step for the whole batch, and the
batch *shrinks*: a row that picked EOS is dropped from the state with
:func:`~seqlearn.nn.state.select_rows` and never stepped again. The loop keeps its
bookkeeping in preallocated tensors, with no Python loop over rows and one host sync a
step (to learn whether any row ended).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from seqlearn._checks import check_int, check_real
from seqlearn.decode._prompts import (
    Prompts,
    apply_processors,
    check_prompts,
    feed_prefixes,
    step,
)
from seqlearn.decode.processors import LogitsProcessor, StepInfo, Temperature
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.decode.result import Decode, Generation, build_generation
from seqlearn.nn.evaluating import evaluating
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
            :class:`~seqlearn.decode.BanTokens`, :class:`~seqlearn.decode.MinLength`).
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
    return _generate(
        model, state, prefixes, _argmax, eos_id, max_new_tokens, bos_id, processors, 1, decode
    )


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
        processors: Applied in order after the temperature.
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
    chain = [Temperature(temperature), *processors] if temperature != 1.0 else list(processors)

    def draw(logits: Tensor) -> Tensor:  # (N, V) -> (N,)
        return _draw(logits, generator)

    return _generate(
        model,
        state,
        prefixes,
        draw,
        eos_id,
        max_new_tokens,
        bos_id,
        chain,
        num_samples,
        decode,
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


def _generate(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    choose: ChooseNext,
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None,
    processors: Sequence[LogitsProcessor],
    copies: int,
    decode: Decode | None,
) -> Generation:
    """Validate, feed the prefixes, repeat them ``copies`` times, and run the loop."""
    prompts = check_prompts(state, prefixes, eos_id, max_new_tokens, bos_id)
    rows = [prefix for prefix in prompts.rows for _ in range(copies)]
    if not rows:
        nothing = torch.zeros(0, max_new_tokens)
        empty = torch.zeros(0, dtype=torch.long)
        return build_generation([], empty.view(0, 0), empty, empty, nothing, empty, decode)
    with evaluating(model):
        logits, state = feed_prefixes(model, state, prompts, eos_id, bos_id)
        if copies > 1:
            index = torch.arange(len(prefixes), device=logits.device).repeat_interleave(copies)
            logits, state = logits.index_select(0, index), select_rows(state, index)
            prompts = prompts._replace(prefix=prompts.prefix.index_select(0, index))
        outputs = _loop(model, state, logits, prompts, choose, eos_id, max_new_tokens, processors)
    return build_generation(rows, *outputs, decode)


def _loop(
    model: StepModel[StateT],
    state: StateT,
    logits: Tensor,
    prompts: Prompts,
    choose: ChooseNext,
    eos_id: int,
    max_new_tokens: int,
    processors: Sequence[LogitsProcessor],
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Generate from the logits after the prefixes; all rows start at the same step.

    Returns the new tokens ``(R, M)`` (EOS-filled after a row's end), their lengths
    ``(R,)``, EOS flags ``(R,)``, token log-probabilities ``(R, M)`` and totals ``(R,)``.
    """
    rows, device = logits.shape[0], logits.device
    new = torch.full((rows, max_new_tokens), eos_id, dtype=torch.long, device=device)
    dtype = torch.promote_types(logits.dtype, torch.float32)
    token_logprobs = torch.zeros(rows, max_new_tokens, dtype=dtype, device=device)
    active = torch.arange(rows, device=device)  # the output row of each row of `state`
    for k in range(max_new_tokens):
        scores = logits
        if processors:
            generated = new[:, :k].index_select(0, active)  # (N, k)
            info = StepInfo(prompts.prefix.index_select(0, active), generated)
            scores = apply_processors(processors, logits, info)
        tokens = choose(scores)  # (N,)
        raw = logits.to(dtype)  # the model's log-probabilities, before any processor:
        chosen = raw.gather(1, tokens.unsqueeze(1)).squeeze(1) - raw.logsumexp(dim=-1)
        new[active, k] = tokens
        token_logprobs[active, k] = chosen
        if k == max_new_tokens - 1:
            break
        going = tokens != eos_id  # (N,)
        if not bool(going.all()):  # one sync a step, not one per row
            keep = going.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            active, tokens, state = active[keep], tokens[keep], select_rows(state, keep)
        logits, state = step(model, tokens, state)
    ended = new == eos_id  # (R, M)
    finished = ended.any(dim=1)
    lengths = torch.where(finished, ended.int().argmax(dim=1), max_new_tokens)
    totals = token_logprobs.double().sum(dim=1)  # zeros after each row's end
    return new, lengths, finished, token_logprobs, totals
