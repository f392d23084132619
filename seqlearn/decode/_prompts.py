"""Checking the prompts and feeding their prefixes: what every decoder does first.

Private to :mod:`seqlearn.decode`. Each prompt is a row of the initial state (which holds
its conditioning) and a prefix. :func:`feed_prefixes` feeds BOS (if any) and the prefix
tokens one step at a time, carrying the state, with :func:`~seqlearn.nn.shrinking_steps`:
a row leaves the batch as soon as its prefix is in, so rows with short prefixes cost no
further steps. It returns the logits of each row's first new token and the state after its
prefix, in the prompts' order; the decoders then generate with all rows in lockstep from
there, never re-running a prefix.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, chain, count
from typing import NamedTuple

import torch
from torch import Tensor

from seqlearn._checks import check_int
from seqlearn.decode._request import Request, Start
from seqlearn.decode.processors import PAD
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.nn.state import select_rows
from seqlearn.nn.steps import shrinking_steps


class Prompts(NamedTuple):
    """The checked prompts, as tensors.

    Shape:
        - feeds: ``(B, F)`` int64 on the state's device, BOS (if any) and the prefix of
          each row, padded with ``-1`` (never fed).
        - lengths: ``B`` ints, how many tokens of ``feeds`` each row feeds.
        - prefix: ``(B, P)`` int64 on the state's device, the prefixes without BOS,
          padded with ``-1``.
        - tokens: ``(sum of prefix lengths,)`` int64 on the CPU, every prefix token.
        - prefix_lengths: ``B`` ints.
        - rows: the ``B`` prefixes as lists of ints.
    """

    feeds: Tensor
    lengths: list[int]
    prefix: Tensor
    tokens: Tensor
    prefix_lengths: list[int]
    rows: list[list[int]]


def check_prompts(state: object, prefixes: Sequence[Sequence[int]], bos_id: int | None) -> Prompts:
    """Check everything about the prompts known before the first step; put them into tensors.

    The decoder's options are checked already (``Request``).
    """
    device = _check_batch(state, prefixes)
    checked = _plain_int_lists(prefixes)
    if checked is None:  # something else than lists of plain ints: check item by item
        checked = [_prefix_ids(prefix, row) for row, prefix in enumerate(prefixes)]
    lengths = [len(prefix) for prefix in checked]
    if bos_id is None and 0 in lengths:
        raise ValueError(f"prefixes[{lengths.index(0)}] is empty; an empty prefix needs a bos_id")
    tokens = torch.tensor([token for prefix in checked for token in prefix], dtype=torch.long)
    negative = tokens < 0
    if bool(negative.any()):
        row, position, token = _locate(tokens, negative, lengths)
        raise ValueError(f"expected token ids >= 0, got prefixes[{row}][{position}] = {token}")
    prefix = _padded(tokens, lengths)  # (B, P)
    feeds = prefix
    if bos_id is not None:
        feeds = torch.cat((torch.full((len(lengths), 1), bos_id, dtype=torch.long), prefix), dim=1)
    return Prompts(
        feeds=feeds.to(device),
        lengths=[length + (bos_id is not None) for length in lengths],
        prefix=prefix.to(device),
        tokens=tokens,
        prefix_lengths=lengths,
        rows=checked,
    )


def _check_batch(state: object, prefixes: object) -> torch.device:
    """Check that ``prefixes`` is a sequence with one item per row of ``state``; return the
    device of the state's first tensor."""
    if isinstance(prefixes, str) or not isinstance(prefixes, Sequence | Tensor):
        raise TypeError(
            f"expected prefixes as a sequence of token id sequences, got {type(prefixes).__name__}"
        )
    first = first_tensor(state)
    if first.dim() == 0:
        raise ValueError("expected state tensors with a batch dimension first, got a scalar")
    if len(prefixes) != first.shape[0]:
        raise ValueError(
            f"expected one prefix per row of the state (batch size {first.shape[0]}), "
            f"got len(prefixes) = {len(prefixes)}"
        )
    return first.device


def _padded(tokens: Tensor, lengths: list[int]) -> Tensor:
    """The prefixes' ``tokens`` (all of them, one after another) as a ``(B, P)`` tensor, each
    row padded on the right with ``-1``."""
    rows, longest = len(lengths), max(lengths, default=0)
    if len(set(lengths)) <= 1:
        return tokens.view(rows, longest)
    counts = torch.tensor(lengths)
    row_of = torch.repeat_interleave(torch.arange(rows), counts)  # (sum,)
    starts = torch.cumsum(counts, 0) - counts  # (B,)
    column = torch.arange(len(tokens)) - starts[row_of]
    prefix = torch.full((rows, longest), PAD, dtype=torch.long)
    prefix[row_of, column] = tokens
    return prefix


def _plain_int_lists(prefixes: object) -> list[list[int]] | None:
    """``prefixes`` itself when it is a list of lists of plain ints (the common case, checked
    at C speed), else ``None``."""
    if type(prefixes) is not list or not all(type(prefix) is list for prefix in prefixes):
        return None
    if not all(type(token) is int for token in chain.from_iterable(prefixes)):
        return None
    return prefixes


def _prefix_ids(prefix: object, row: int) -> list[int]:
    """One prefix as a list of ints, each checked to be an integer (not a bool or float)."""
    if isinstance(prefix, str):
        raise TypeError(f"prefixes[{row}] is the str {prefix!r}; expected token ids (encode it)")
    if not isinstance(prefix, Iterable):
        raise TypeError(
            f"expected prefixes[{row}] as a sequence of token ids, got {type(prefix).__name__}"
        )
    return [check_int(f"prefixes[{row}][{i}]", token) for i, token in enumerate(prefix)]


def _locate(tokens: Tensor, bad: Tensor, lengths: list[int]) -> tuple[int, int, int]:
    """Row, position and value of the first token where ``bad`` holds."""
    index = int(bad.nonzero()[0, 0])
    ends = list(accumulate(lengths))
    row = bisect_right(ends, index)
    return row, index - (ends[row - 1] if row else 0), int(tokens[index])


def feed_prefixes(
    model: StepModel[StateT], state: StateT, prompts: Prompts, request: Request
) -> Start[StateT]:
    """Feed every row's BOS and prefix: the logits of its first new token, and its state.

    Rows are stepped longest prefix first with :func:`~seqlearn.nn.shrinking_steps`, so the
    rows still feeding are always the leading rows of the batch; each step keeps the logits
    of the rows whose prefix ends there, and the rows are put back in the prompts' order at
    the end. The vocabulary size, which the first logits reveal, is checked before the
    second step.
    """
    lengths = prompts.lengths
    order = sorted(range(len(lengths)), key=lambda row: -lengths[row])  # stable
    feeds, index = prompts.feeds, None
    if order != list(range(len(order))):  # not sorted yet (equal lengths are)
        index = torch.tensor(order, device=feeds.device)
        feeds, state = feeds.index_select(0, index), select_rows(state, index)
    negated = [-lengths[row] for row in order]  # ascending
    sizes = [bisect_left(negated, -t) for t in range(-negated[0] + 1)]  # rows longer than t
    inputs = [feeds[:size, t] for t, size in enumerate(sizes[:-1])]  # (size_t,) each
    pieces, state = shrinking_steps(_ending_logits(model, prompts, request, sizes), inputs, state)
    logits = torch.cat(pieces[::-1])  # (B, V), longest prefix first like the rows of `state`
    if index is not None:
        restore = torch.argsort(index)
        logits, state = logits.index_select(0, restore), select_rows(state, restore)
    return Start(logits, state, prompts.prefix)


def _ending_logits(
    model: StepModel[StateT], prompts: Prompts, request: Request, sizes: list[int]
) -> Callable[[Tensor, StateT], tuple[Tensor, StateT]]:
    """The step that :func:`feed_prefixes` runs: :func:`step`, returning only the logits of
    the rows whose prefix ends there (``sizes[t]`` rows run step ``t``)."""
    steps = count()

    def feed(tokens: Tensor, state: StateT) -> tuple[Tensor, StateT]:
        t = next(steps)
        logits, state = step(model, tokens, state)
        if t == 0:
            check_vocab(prompts, request, logits.shape[1])
        going = sizes[t + 1]  # rows [going, sizes[t]) end here
        # A copy, so that the step's whole logits are not kept alive by a view.
        return (logits[going:].clone() if going else logits), state

    return feed


def step(model: StepModel[StateT], tokens: Tensor, state: StateT) -> tuple[Tensor, StateT]:
    """One ``model.step``, checking that it returned one row of logits per row."""
    logits, state = model.step(tokens, state)
    if logits.dim() != 2 or logits.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"expected model.step to return logits of shape ({tokens.shape[0]}, V), "
            f"got {tuple(logits.shape)}"
        )
    return logits, state


def first_tensor(state: object) -> Tensor:
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


def check_vocab(prompts: Prompts, request: Request, vocab_size: int) -> None:
    """Check token ids against the vocabulary size that the first logits reveal."""
    if request.eos_id >= vocab_size:
        raise ValueError(f"expected eos_id in [0, {vocab_size}), got {request.eos_id}")
    if request.bos_id is not None and request.bos_id >= vocab_size:
        raise ValueError(f"expected bos_id in [0, {vocab_size}), got {request.bos_id}")
    outside = prompts.tokens >= vocab_size
    if bool(outside.any()):
        row, position, token = _locate(prompts.tokens, outside, prompts.prefix_lengths)
        raise ValueError(
            f"expected token ids in [0, {vocab_size}), got prefixes[{row}][{position}] = {token}"
        )
