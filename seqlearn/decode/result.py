"""What a decoder returns: the tokens of each sequence, their log-probabilities, why it stopped."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, NamedTuple

import torch
from torch import Tensor

__all__ = ["Generation", "StopReason"]

Decode = Callable[[list[int]], str]
"""Turns token ids into text, e.g. :meth:`CharTokenizer.decode`
(private to the package)."""

StopReason = Literal["eos", "max_length"]
"""Why a sequence stopped: it chose EOS (``"eos"``), or it reached ``max_new_tokens``
tokens first (``"max_length"``).

Example:
    >>> from typing import get_args
    >>> get_args(StopReason)
    ('eos', 'max_length')
"""


class Generation(NamedTuple):
    """The output of a decoder: one entry per generated sequence.

    :func:`~seqlearn.decode.greedy` returns one sequence per prompt;
    :func:`~seqlearn.decode.sample` returns ``num_samples`` and
    :func:`~seqlearn.decode.beam_search` ``num_return_sequences`` per prompt, prompt by
    prompt: sequence ``b * n + j`` is the ``j``-th of prompt ``b``.

    Log-probabilities are those of the model: :func:`torch.log_softmax` of the raw logits
    that ``model.step`` returned, *before* any logits processor, temperature included.

    Attributes:
        tokens: The prefix followed by the generated tokens (EOS and BOS not included),
            like the lecture's ``output_name``.
        new_tokens: Only the generated tokens (EOS not included).
        finished: True where the sequence ended with EOS, False where it stopped after
            ``max_new_tokens`` tokens (``stop_reasons`` says the same).
        stop_reasons: Why each sequence stopped.
        token_logprobs: The model's log-probability of each generated token given the
            tokens before it; when the sequence ended with EOS, EOS's comes last, so the
            list is one longer than ``new_tokens``.
        logprobs: The sum of ``token_logprobs``: the log-probability of the continuation
            (with its EOS, if any) given the prompt.
        texts: ``decode(tokens)`` of each sequence when the decoder got a ``decode``
            function, else None.

    Example:
        >>> out = Generation(tokens=[[1, 2]], new_tokens=[[2]], finished=[True],
        ...                  stop_reasons=["eos"], token_logprobs=[[-0.1, -0.2]],
        ...                  logprobs=[-0.3], texts=None)
        >>> out.new_tokens, out.stop_reasons
        ([[2]], ['eos'])
    """

    tokens: list[list[int]]
    new_tokens: list[list[int]]
    finished: list[bool]
    stop_reasons: list[StopReason]
    token_logprobs: list[list[float]]
    logprobs: list[float]
    texts: list[str] | None


class Decoded(NamedTuple):
    """What a search found, as tensors: the rows of a :class:`Generation` to be (private to
    the package).

    Attributes:
        new: The generated tokens of each sequence, EOS-filled after its end.
        lengths: How many tokens each sequence generated (EOS not counted).
        finished: True where the sequence ended with EOS.
        token_logprobs: The model's log-probability of each token of ``new``, EOS's at
            position ``lengths[r]`` where ``finished[r]``; zeros after that.
        logprobs: The sum of each row of ``token_logprobs`` (``-inf`` for a sequence that
            could not be found).

    Shape:
        - new, token_logprobs: ``(R, M)``, ``M`` at least the longest sequence with its EOS.
        - lengths, finished, logprobs: ``(R,)``.
    """

    new: Tensor
    lengths: Tensor
    finished: Tensor
    token_logprobs: Tensor
    logprobs: Tensor

    @classmethod
    def empty(cls) -> Decoded:
        """No sequence at all: what every decoder finds for no prompts."""
        ids, logprobs = torch.zeros(0, 0, dtype=torch.long), torch.zeros(0, 0)
        return cls(ids, ids.sum(dim=1), ids.any(dim=1), logprobs, logprobs.sum(dim=1))


def build_generation(
    prefixes: Sequence[Sequence[int]], decoded: Decoded, decode: Decode | None
) -> Generation:
    """Turn what a search found into a :class:`Generation` (private to the package).

    The result holds several Python lists per sequence, tens of thousands for a large
    batch; Python's cyclic garbage collector, which would otherwise scan every live object
    several times while they are made, is paused while they are built (and restored after,
    as it was). None of these lists can form a cycle.

    Args:
        prefixes: The prefix of each of the ``R`` sequences.
        decoded: The sequences' tensors.
        decode: Turns a sequence's tokens into text, if given.
    """
    with _collector_paused():
        return _build(prefixes, decoded, decode)


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(
    prefixes: Sequence[Sequence[int]], decoded: Decoded, decode: Decode | None
) -> Generation:
    counts = decoded.lengths.tolist()
    ended = decoded.finished.tolist()
    width = max((count + end for count, end in zip(counts, ended)), default=0)
    new_rows = decoded.new[:, :width].tolist()  # only the columns some row uses
    logprob_rows = decoded.token_logprobs[:, :width].tolist()
    new_tokens = [row[:count] for row, count in zip(new_rows, counts)]
    tokens = [[*prefix, *row] for prefix, row in zip(prefixes, new_tokens)]
    reasons: list[StopReason] = ["eos" if end else "max_length" for end in ended]
    return Generation(
        tokens=tokens,
        new_tokens=new_tokens,
        finished=[bool(end) for end in ended],
        stop_reasons=reasons,
        token_logprobs=[row[: count + end] for row, count, end in zip(logprob_rows, counts, ended)],
        logprobs=decoded.logprobs.tolist(),
        texts=None if decode is None else [decode(row) for row in tokens],
    )
