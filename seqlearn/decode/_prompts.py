"""Checking the prompts and feeding their prefixes: what every decoder does first.

Private to :mod:`seqlearn.decode`. Each prompt is a row of the initial state (which holds
its conditioning) and a prefix. :func:`feed_prefixes` feeds BOS (if any) and the prefix
tokens one step at a time, carrying the state; a row leaves the batch as soon as its
prefix is in, so rows with short prefixes cost no further steps. It returns the logits of
each row's first new token and the state after its prefix, in the prompts' order; the
decoders then generate with all rows in lockstep from there, never re-running a prefix.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import partial, reduce
from itertools import accumulate, chain
from typing import NamedTuple

import torch
from torch import Tensor

from seqlearn._checks import check_int
from seqlearn.decode.processors import PAD, LogitsProcessor, StepInfo
from seqlearn.decode.protocol import StateT, StepModel
from seqlearn.nn.state import map_state, select_rows, zip_map_state


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


def check_prompts(
    state: object,
    prefixes: Sequence[Sequence[int]],
    eos_id: int,
    max_new_tokens: int,
    bos_id: int | None,
) -> Prompts:
    """Check everything known before the first step and put the prompts into tensors."""
    if check_int("max_new_tokens", max_new_tokens) < 1:
        raise ValueError(f"expected max_new_tokens >= 1, got {max_new_tokens}")
    if check_int("eos_id", eos_id) < 0:
        raise ValueError(f"expected eos_id >= 0, got {eos_id}")
    if bos_id is not None and check_int("bos_id", bos_id) < 0:
        raise ValueError(f"expected bos_id >= 0, got {bos_id}")
    if isinstance(prefixes, str) or not isinstance(prefixes, Sequence | Tensor):
        raise TypeError(
            f"expected prefixes as a sequence of token id sequences, got {type(prefixes).__name__}"
        )
    first = first_tensor(state)
    if first.dim() == 0:
        raise ValueError("expected state tensors with a batch dimension first, got a scalar")
    rows = len(prefixes)
    if rows != first.shape[0]:
        raise ValueError(
            f"expected one prefix per row of the state (batch size {first.shape[0]}), "
            f"got len(prefixes) = {rows}"
        )
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
    longest = max(lengths, default=0)
    if len(set(lengths)) <= 1:
        prefix = tokens.view(rows, longest)
    else:  # scatter the tokens into a padded (B, P) tensor
        counts = torch.tensor(lengths)
        row_of = torch.repeat_interleave(torch.arange(rows), counts)  # (sum,)
        starts = torch.cumsum(counts, 0) - counts  # (B,)
        column = torch.arange(len(tokens)) - starts[row_of]
        prefix = torch.full((rows, longest), PAD, dtype=torch.long)
        prefix[row_of, column] = tokens
    feeds = prefix
    if bos_id is not None:
        feeds = torch.cat((torch.full((rows, 1), bos_id, dtype=torch.long), prefix), dim=1)
    return Prompts(
        feeds=feeds.to(first.device),
        lengths=[length + (bos_id is not None) for length in lengths],
        prefix=prefix.to(first.device),
        tokens=tokens,
        prefix_lengths=lengths,
        rows=checked,
    )


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
    model: StepModel[StateT],
    state: StateT,
    prompts: Prompts,
    eos_id: int,
    bos_id: int | None,
) -> tuple[Tensor, StateT]:
    """Feed every row's BOS and prefix; return the next logits ``(B, V)`` and the state.

    Rows are stepped longest prefix first, so the rows still feeding are always the
    leading rows of the batch; a row whose prefix is in is set aside with its logits and
    state, and the pieces are put back in the prompts' order at the end.
    """
    lengths = prompts.lengths
    if len(set(lengths)) == 1:  # the usual case: no row leaves early
        logits = torch.empty(0)
        for t in range(lengths[0]):
            logits, state = step(model, prompts.feeds[:, t], state)
            if t == 0:
                check_vocab(prompts, eos_id, bos_id, logits.shape[1])
        return logits, state
    order = sorted(range(len(lengths)), key=lambda row: -lengths[row])
    device = prompts.feeds.device
    order_tensor = torch.tensor(order, dtype=torch.long, device=device)
    feeds = prompts.feeds.index_select(0, order_tensor)  # (B, F), longest first
    state = select_rows(state, order_tensor)
    sorted_lengths = [lengths[row] for row in order]
    negated = [-length for length in sorted_lengths]  # ascending, for bisect
    done_logits: list[Tensor] = []
    done_states: list[StateT] = []
    rows = len(order)
    for t in range(sorted_lengths[0]):
        logits, state = step(model, feeds[:rows, t], state)
        if t == 0:
            check_vocab(prompts, eos_id, bos_id, logits.shape[1])
        still = bisect_left(negated, -(t + 1))  # rows with a length above t + 1
        if still < rows:  # rows [still, rows) have fed their whole prefix
            done_logits.append(logits[still:])
            done_states.append(map_state(partial(_rows, start=still, stop=rows), state))
            state = map_state(partial(_rows, start=0, stop=still), state)
            rows = still
    restore = torch.argsort(order_tensor)
    logits = torch.cat(done_logits[::-1]).index_select(0, restore)
    return logits, select_rows(cat_rows(done_states[::-1]), restore)


def _rows(tensor: Tensor, *, start: int, stop: int) -> Tensor:
    return tensor[start:stop]


def step(model: StepModel[StateT], tokens: Tensor, state: StateT) -> tuple[Tensor, StateT]:
    """One ``model.step``, checking that it returned one row of logits per row."""
    logits, state = model.step(tokens, state)
    if logits.dim() != 2 or logits.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"expected model.step to return logits of shape ({tokens.shape[0]}, V), "
            f"got {tuple(logits.shape)}"
        )
    return logits, state


def cat_rows(states: list[StateT]) -> StateT:
    """Concatenate state trees of the same structure along the batch dimension."""
    return reduce(lambda a, b: zip_map_state(lambda x, y: torch.cat((x, y)), a, b), states)


def apply_processors(
    processors: Sequence[LogitsProcessor], logits: Tensor, info: StepInfo
) -> Tensor:
    """Apply the processors in order."""
    for processor in processors:
        logits = processor(logits, info)
    return logits


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


def check_vocab(prompts: Prompts, eos_id: int, bos_id: int | None, vocab_size: int) -> None:
    """Check token ids against the vocabulary size that the first logits reveal."""
    if eos_id >= vocab_size:
        raise ValueError(f"expected eos_id in [0, {vocab_size}), got {eos_id}")
    if bos_id is not None and bos_id >= vocab_size:
        raise ValueError(f"expected bos_id in [0, {vocab_size}), got {bos_id}")
    outside = prompts.tokens >= vocab_size
    if bool(outside.any()):
        row, position, token = _locate(prompts.tokens, outside, prompts.prefix_lengths)
        raise ValueError(
            f"expected token ids in [0, {vocab_size}), got prefixes[{row}][{position}] = {token}"
        )
