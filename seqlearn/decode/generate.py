"""Greedy decoding and temperature sampling over any :class:`StepModel`, a batch at a time.

Each row starts from its own prefix (the lecture's start letter is a prefix of one token;
prefixes may differ in length). The prefix tokens are fed one by one through
``model.step``, carrying the state, so no prefix is ever re-run; after a row's last prefix
token its logits give the first new token, which is fed back until the row picks EOS or
has generated ``max_new_tokens`` tokens.

Rows advance in lockstep, one ``model.step`` per time step for the whole batch, and the
batch *shrinks*: a finished row is dropped from the state with
:func:`~seqlearn.nn.state.select_rows` and never stepped again. A row still reading its
prefix is stepped with its next prefix token while other rows already generate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor

from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.nn.state import select_rows

__all__ = ["Generation", "greedy", "sample"]

ChooseNext = Callable[[Tensor], Tensor]
"""Picks the next token of each row: logits ``(N, V)`` -> tokens ``(N,)`` int64."""


class Generation(NamedTuple):
    """The output of :func:`greedy` and :func:`sample`, one entry per row.

    Attributes:
        tokens: The prefix followed by the generated tokens (EOS and BOS not included),
            like the lecture's ``output_name``.
        new_tokens: Only the generated tokens (EOS not included).
        finished: True where the row ended with EOS, False where it stopped after
            ``max_new_tokens`` tokens.

    Example:
        >>> Generation(tokens=[[1, 2]], new_tokens=[[2]], finished=[True]).new_tokens
        [[2]]
    """

    tokens: list[list[int]]
    new_tokens: list[list[int]]
    finished: list[bool]


def greedy(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None = None,
) -> Generation:
    """Continue every prefix with the most likely next token until EOS.

    Runs under :func:`torch.inference_mode`. If ``model`` is a :class:`torch.nn.Module`, it
    (with every submodule) is in eval mode during decoding, and each module's previous
    training flag is restored afterwards, also when an error is raised.

    Args:
        model: The model to step.
        state: The initial state of the ``B`` rows, holding any conditioning.
        prefixes: ``B`` token sequences to continue; they may differ in length.
        eos_id: The end-of-sequence token; a row stops when it picks it.
        max_new_tokens: The most tokens generated per row, at least 1.
        bos_id: The beginning-of-sequence token. If given, it is fed first in every row
            (a model trained with BOS expects it); it is needed for empty prefixes.

    Returns:
        The prefixes with their continuations.

    Raises:
        ValueError: If an argument is out of range, ``len(prefixes)`` differs from the
            batch size of ``state`` (its first tensor), a prefix is empty without
            ``bos_id``, or a token is outside the vocabulary ``[0, V)``. ``V`` is only
            known from the first logits, so the tokens of the first step (BOS, or each
            prefix's first token) reach ``model.step`` unchecked against it, and an
            embedding may raise its own error for them first.
        TypeError: If ``state`` holds no tensor.

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
        >>> out.tokens, out.new_tokens, out.finished
        ([[1, 2, 3], [3, 2, 3]], [[2, 3], [3]], [True, True])
    """
    return _generate(model, state, prefixes, _argmax, eos_id, max_new_tokens, bos_id)


def sample(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    *,
    eos_id: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    bos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> Generation:
    """Continue every prefix with tokens drawn from ``softmax(logits / temperature)``.

    Same loop, modes and stopping rule as :func:`greedy`. Draws use ``generator`` (which
    must live on the logits' device), so a seeded generator makes the output reproducible;
    a temperature near 0 approaches :func:`greedy`, a large one approaches uniform draws.

    Args:
        model: The model to step.
        state: The initial state of the ``B`` rows, holding any conditioning.
        prefixes: ``B`` token sequences to continue; they may differ in length.
        eos_id: The end-of-sequence token; a row stops when it draws it.
        max_new_tokens: The most tokens generated per row, at least 1.
        temperature: Positive, finite divisor of the logits.
        bos_id: The beginning-of-sequence token, fed first in every row if given; it is
            needed for empty prefixes.
        generator: Source of randomness; the global one if None.

    Returns:
        The prefixes with their continuations.

    Raises:
        ValueError: If ``temperature`` is not positive and finite, or for any reason
            listed in :func:`greedy`.
        TypeError: If ``state`` holds no tensor.

    Shape:
        - state: a state tree whose tensors have batch size ``B``.

    Example:
        >>> import torch
        >>> class Uniform:  # every token equally likely; 0 is EOS
        ...     def step(self, tokens, state):
        ...         return torch.zeros(len(tokens), 4), state
        >>> def draw(seed):
        ...     g = torch.Generator().manual_seed(seed)
        ...     return sample(Uniform(), torch.zeros(3, 1), [[1], [2], [3]], eos_id=0,
        ...                   max_new_tokens=8, temperature=0.5, generator=g)
        >>> draw(0) == draw(0)
        True
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"expected a positive, finite temperature, got {temperature}")

    def draw(logits: Tensor) -> Tensor:  # (N, V) -> (N,)
        # Shifting the max logit to 0 keeps a tiny temperature from giving inf - inf = nan.
        shifted = logits - logits.amax(dim=-1, keepdim=True)
        probs = torch.softmax(shifted / temperature, dim=-1)  # (N, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _generate(model, state, prefixes, draw, eos_id, max_new_tokens, bos_id)


def _argmax(logits: Tensor) -> Tensor:  # (N, V) -> (N,)
    return logits.argmax(dim=-1)


def _generate(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    choose: ChooseNext,
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None,
) -> Generation:
    """Validate, then run the shared decoding loop in eval and inference mode."""
    _check_arguments(state, prefixes, eos_id, max_new_tokens, bos_id)
    with _eval_mode(model), torch.inference_mode():
        new, finished = _loop(model, state, prefixes, choose, eos_id, max_new_tokens, bos_id)
    tokens = [list(prefix) + row for prefix, row in zip(prefixes, new, strict=True)]
    return Generation(tokens=tokens, new_tokens=new, finished=finished)


def _loop(
    model: StepModel[StateT],
    state: StateT,
    prefixes: Sequence[Sequence[int]],
    choose: ChooseNext,
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None,
) -> tuple[list[list[int]], list[bool]]:
    """Step all unfinished rows together; return the new tokens and EOS flags per row."""
    device = _first_tensor(state).device
    feeds = [([] if bos_id is None else [bos_id]) + list(prefix) for prefix in prefixes]
    new: list[list[int]] = [[] for _ in feeds]
    finished = [False] * len(feeds)
    active = list(range(len(feeds)))  # the original row of each row of `state`
    t = 0
    while active:
        inputs = [feeds[i][t] if t < len(feeds[i]) else new[i][-1] for i in active]
        logits, state = model.step(torch.tensor(inputs, dtype=torch.long, device=device), state)
        _check_logits(logits, len(active))
        if t == 0:
            _check_vocab(prefixes, eos_id, bos_id, logits.shape[1])
        ready = [k for k, i in enumerate(active) if t >= len(feeds[i]) - 1]  # past the prefix
        if ready:
            chosen = choose(logits[ready] if len(ready) < len(active) else logits).tolist()
            for k, token in zip(ready, chosen, strict=True):
                if token == eos_id:
                    finished[active[k]] = True
                else:
                    new[active[k]].append(token)
        keep = [k for k, i in enumerate(active) if not finished[i] and len(new[i]) < max_new_tokens]
        if len(keep) < len(active):
            state = select_rows(state, torch.tensor(keep, dtype=torch.long, device=device))
            active = [active[k] for k in keep]
        t += 1
    return new, finished


@contextmanager
def _eval_mode(model: object) -> Iterator[None]:
    """Put a :class:`torch.nn.Module` in eval mode, restoring every module's flag after."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _first_tensor(state: object) -> Tensor:
    """The first tensor of a state tree, depth first."""
    found = _find_tensor(state)
    if found is None:
        raise TypeError(f"expected a recurrent state holding a tensor, got {state!r}")
    return found


def _find_tensor(state: object) -> Tensor | None:
    if isinstance(state, Tensor):
        return state
    if isinstance(state, tuple):
        for item in state:
            found = _find_tensor(item)
            if found is not None:
                return found
    return None


def _check_arguments(
    state: object,
    prefixes: Sequence[Sequence[int]],
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None,
) -> None:
    """Check everything that is known before the first step."""
    if max_new_tokens < 1:
        raise ValueError(f"expected max_new_tokens >= 1, got {max_new_tokens}")
    if eos_id < 0:
        raise ValueError(f"expected eos_id >= 0, got {eos_id}")
    if bos_id is not None and bos_id < 0:
        raise ValueError(f"expected bos_id >= 0, got {bos_id}")
    first = _first_tensor(state)
    if first.dim() == 0:
        raise ValueError("expected state tensors with a batch dimension first, got a scalar")
    if len(prefixes) != first.shape[0]:
        raise ValueError(
            f"expected one prefix per row of the state (batch size {first.shape[0]}), "
            f"got len(prefixes) = {len(prefixes)}"
        )
    for row, prefix in enumerate(prefixes):
        if not prefix and bos_id is None:
            raise ValueError(f"prefixes[{row}] is empty; an empty prefix needs a bos_id")
        for position, token in enumerate(prefix):
            if token < 0:
                raise ValueError(
                    f"expected token ids >= 0, got prefixes[{row}][{position}] = {token}"
                )


def _check_logits(logits: Tensor, rows: int) -> None:
    """Check that a step returned one row of logits per active row."""
    if logits.dim() != 2 or logits.shape[0] != rows:
        raise ValueError(
            f"expected model.step to return logits of shape ({rows}, V), got {tuple(logits.shape)}"
        )


def _check_vocab(
    prefixes: Sequence[Sequence[int]], eos_id: int, bos_id: int | None, vocab_size: int
) -> None:
    """Check token ids against the vocabulary size that the first logits reveal."""
    if eos_id >= vocab_size:
        raise ValueError(f"expected eos_id in [0, {vocab_size}), got {eos_id}")
    if bos_id is not None and bos_id >= vocab_size:
        raise ValueError(f"expected bos_id in [0, {vocab_size}), got {bos_id}")
    for row, prefix in enumerate(prefixes):
        for position, token in enumerate(prefix):
            if token >= vocab_size:
                raise ValueError(
                    f"expected token ids in [0, {vocab_size}), "
                    f"got prefixes[{row}][{position}] = {token}"
                )
