"""Ids in and out, shared by the tokenizers and the vocabulary (private).

:func:`encode_texts` and :func:`decode_rows` are ``encode_batch`` and ``decode_batch`` over
a tokenizer's own ``encode`` and ``decode``, so every tokenizer pads, counts lengths and
names the text or row at fault the same way.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

__all__ = ["checked_ids", "decode_rows", "encode_texts", "id_list"]


def id_list(ids: Iterable[int] | Tensor, what: str = "ids") -> list[int]:
    """``ids`` as a list of ints, from a 1-D integer tensor or an iterable of integers.

    Raises:
        TypeError: If ``ids`` is not integers (a string, a float tensor), naming ``what``.
        ValueError: If ``ids`` is a tensor that is not 1-D.
    """
    if isinstance(ids, Tensor):
        if ids.dim() != 1:
            raise ValueError(f"expected a 1-D tensor of {what}, got shape {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TypeError(f"expected an integer tensor of {what}, got dtype {ids.dtype}")
        return [int(i) for i in ids.tolist()]
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise TypeError(f"expected a sequence of {what}, got {type(ids).__name__}")
    values = []
    for position, i in enumerate(ids):
        try:
            values.append(operator.index(i))
        except TypeError:
            raise TypeError(f"expected integer {what}, got {i!r} at position {position}") from None
    return values


def checked_ids(ids: Iterable[int] | Tensor, count: int) -> list[int]:
    """:func:`id_list` of ``ids``, each checked to be in ``[0, count)``.

    Raises:
        TypeError: As :func:`id_list`.
        ValueError: As :func:`id_list`, or naming an id out of range and its position.
    """
    values = id_list(ids, "ids")
    for position, i in enumerate(values):
        if not 0 <= i < count:
            raise ValueError(
                f"id {i} at position {position} is out of range; expected 0 <= id < {count}"
            )
    return values


def encode_texts(
    texts: Sequence[str], encode: Callable[[str], list[int]], pad_id: int | None
) -> tuple[Tensor, Tensor]:
    """``(tokens (B, T), lengths (B,))``: each text encoded, padded with ``pad_id`` after it.

    Raises:
        TypeError: If ``texts`` is a single string, or as ``encode`` (prefixed ``texts[b]:``).
        ValueError: If ``texts`` is empty, ``pad_id`` is ``None`` (a vocabulary without
            PAD), or as ``encode`` (prefixed ``texts[b]:``).
    """
    if isinstance(texts, str):
        raise TypeError("expected a sequence of texts, got a single str; wrap it in a list")
    if len(texts) == 0:
        raise ValueError("cannot encode an empty batch; expected at least one text")
    if pad_id is None:
        raise ValueError("encode_batch pads with PAD, but the vocabulary has none")
    rows = []
    for b, text in enumerate(texts):
        try:
            rows.append(encode(text))
        except (TypeError, ValueError) as error:
            raise type(error)(f"texts[{b}]: {error}") from error
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)  # (B,)
    longest = max(len(row) for row in rows)
    tokens = torch.full((len(rows), longest), pad_id, dtype=torch.int64)  # (B, T)
    for b, row in enumerate(rows):
        tokens[b, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return tokens, lengths


def decode_rows(
    ids: Tensor | Sequence[Sequence[int]],
    lengths: Tensor | Sequence[int] | None,
    decode: Callable[[list[int]], str],
) -> list[str]:
    """``decode`` of the first ``lengths[b]`` ids of each row ``b`` (all of them if ``None``).

    Raises:
        TypeError: As :func:`id_list`, or as ``decode`` (prefixed ``row b:``).
        ValueError: If ``ids`` is a tensor that is not 2-D, ``lengths`` does not have one
            length in ``[0, len(row)]`` per row, or as ``decode`` (prefixed ``row b:``).
    """
    if isinstance(ids, Tensor) and ids.dim() != 2:
        raise ValueError(f"expected a 2-D tensor of ids, got shape {tuple(ids.shape)}")
    rows = list(ids)
    sizes = None if lengths is None else id_list(lengths, "lengths")
    if sizes is not None and len(sizes) != len(rows):
        raise ValueError(f"expected {len(rows)} lengths, one per row, got {len(sizes)}")
    texts = []
    for b, row in enumerate(rows):
        try:
            row_ids = id_list(row, "ids")
            size = len(row_ids) if sizes is None else sizes[b]
            if not 0 <= size <= len(row_ids):
                raise ValueError(f"length {size} is out of range [0, {len(row_ids)}]")
            texts.append(decode(row_ids[:size]))
        except (TypeError, ValueError) as error:
            raise type(error)(f"row {b}: {error}") from error
    return texts
