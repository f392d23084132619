"""Batching: pad token-id sequences and collate examples into batch-first tensors.

Padded target positions hold :data:`IGNORE_INDEX`, so a loss such as
``F.cross_entropy(logits.transpose(1, 2), batch.targets)`` skips them with no mask.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, TypeAlias, cast

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from typing_extensions import final

from seqlearn._checks import check_int

__all__ = [
    "IGNORE_INDEX",
    "ClassificationBatch",
    "NextTokenBatch",
    "NextTokenCollator",
    "TokenIds",
    "collate_classification",
    "collate_next_token",
    "pad_sequences",
]

IGNORE_INDEX: Final = -100
"""Target value of padded positions; the default ``ignore_index`` of
:func:`torch.nn.functional.cross_entropy`.

Example:
    >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 0)], eos_id=9)
    >>> batch.targets
    tensor([[   2,    3,    9],
            [   9, -100, -100]])
    >>> int((batch.targets != IGNORE_INDEX).sum())  # the tokens a loss counts
    4
"""

TokenIds: TypeAlias = Sequence[int] | Tensor
"""Token ids of one sequence: a sequence of ints or a 1-D integer tensor.

Example:
    >>> import torch
    >>> collate_next_token([([1, 2], 0), (torch.tensor([3]), 1)], eos_id=9).inputs
    tensor([[1, 2],
            [3, 0]])
"""


def _as_ids(ids: TokenIds, position: int, device: torch.device | None = None) -> Tensor:
    """Token ids as a 1-D int64 tensor of ids ``>= 0``; ``position`` names the sequence."""
    if isinstance(ids, str):
        raise TypeError(
            f"expected token ids at position {position}, got the str {ids!r}; encode it first"
        )
    try:
        row = torch.as_tensor(ids, device=device)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"expected a sequence of integer token ids at position {position}, got {ids!r} "
            f"({error})"
        ) from error
    if row.dim() != 1:
        raise ValueError(
            f"expected a 1-D sequence of token ids at position {position}, "
            f"got shape {tuple(row.shape)}"
        )
    if row.numel() == 0:
        return row.to(torch.int64)
    if row.dtype == torch.bool or row.is_floating_point() or row.is_complex():
        raise TypeError(f"expected integer token ids at position {position}, got {row.dtype}")
    if bool((row < 0).any()):
        raise ValueError(f"expected token ids >= 0 at position {position}, got {int(row.min())}")
    return row.to(torch.int64)


def _label(value: object, name: str, position: int) -> int:
    """A label or category id: an int ``>= 0`` (a negative one would pass as padding)."""
    if isinstance(value, bool):
        raise TypeError(f"expected an int {name} at position {position}, got {value!r}")
    try:
        label = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"expected an int {name} at position {position}, got {value!r}") from None
    if label < 0:
        raise ValueError(f"expected a {name} >= 0 at position {position}, got {label}")
    return label


def _pair(example: object, position: int) -> tuple[TokenIds, object]:
    """An example unpacked as ``(ids, label)``."""
    try:
        ids, label = cast(tuple[TokenIds, object], example)
    except (TypeError, ValueError):
        raise TypeError(
            f"expected an (ids, label) pair at position {position}, got {example!r}"
        ) from None
    return ids, label


def pad_sequences(
    sequences: Sequence[TokenIds], *, padding_value: int = 0
) -> tuple[Tensor, Tensor]:
    """Pad sequences of token ids to the longest one.

    Args:
        sequences: Token ids of each sequence, as lists of ints or 1-D integer tensors;
            sequences may be empty (their row is all padding).
        padding_value: Value written after the end of each sequence.

    Returns:
        ``(padded, lengths)``: the int64 batch and the int64 length of each sequence. They
        lie on the device of the first tensor among ``sequences``, else on the CPU.

    Raises:
        ValueError: If ``sequences`` is empty, one of them is not 1-D or holds a negative
            id; the message gives its position.
        TypeError: If a sequence is not a sequence of integers (a str, ``None``, floats),
            or ``padding_value`` is not an int.

    Shape:
        - padded: ``(B, T)`` with ``B = len(sequences)`` and ``T`` the longest length.
        - lengths: ``(B,)``.

    Example:
        >>> padded, lengths = pad_sequences([[5, 6, 7], [8], []], padding_value=0)
        >>> padded
        tensor([[5, 6, 7],
                [8, 0, 0],
                [0, 0, 0]])
        >>> lengths
        tensor([3, 1, 0])
    """
    if len(sequences) == 0:
        raise ValueError("expected at least one sequence to pad, got an empty list")
    padding_value = check_int("padding_value", padding_value)
    fast = _pad_int_lists(sequences, padding_value)
    if fast is not None:
        return fast
    device = next((seq.device for seq in sequences if isinstance(seq, Tensor)), None)
    rows = [_as_ids(seq, position, device) for position, seq in enumerate(sequences)]
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64, device=device)
    padded = pad_sequence(rows, batch_first=True, padding_value=padding_value)  # (B, T)
    return padded, lengths


def _pad_int_lists(
    sequences: Sequence[TokenIds], padding_value: int
) -> tuple[Tensor, Tensor] | None:
    """:func:`pad_sequences` for lists (or tuples) of non-negative Python ints, the common
    case, in a few tensor operations for the whole batch instead of several a row; ``None``
    where any sequence is something else or holds a bad id, so that the per-row path
    raises its error naming the position."""
    if not all(type(seq) is list or type(seq) is tuple for seq in sequences):
        return None
    rows = cast(Sequence[Sequence[int]], sequences)
    flat = list(itertools.chain.from_iterable(rows))
    if not set(map(type, flat)) <= {int} or (flat and min(flat) < 0):  # bools are not ids
        return None
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)  # (B,)
    steps = max(len(row) for row in rows)
    padded = torch.full((len(rows), steps), padding_value, dtype=torch.int64)  # (B, T)
    padded[torch.arange(steps) < lengths.unsqueeze(1)] = torch.tensor(flat, dtype=torch.int64)
    return padded, lengths


class NextTokenBatch(NamedTuple):
    """A batch for next-token prediction (a character-level language model).

    ``targets[b, t]`` is the token that follows ``inputs[b, t]``; positions at or after
    ``lengths[b]`` hold padding in ``inputs`` and :data:`IGNORE_INDEX` in ``targets``.

    Shape:
        - inputs: ``(B, T)`` int64 token ids.
        - lengths: ``(B,)`` int64 number of valid steps of each row.
        - targets: ``(B, T)`` int64 token ids, :data:`IGNORE_INDEX` in padding.
        - categories: ``(B,)`` int64 category of each row (e.g. a name's language).

    Example:
        >>> batch = collate_next_token([([1, 2], 0)], eos_id=9)
        >>> batch.to("cpu").targets
        tensor([[2, 9]])
    """

    inputs: Tensor
    lengths: Tensor
    targets: Tensor
    categories: Tensor

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> NextTokenBatch:
        """Move every tensor to ``device``.

        Args:
            device: Target device.
            non_blocking: Passed to :meth:`torch.Tensor.to` (useful with pinned memory).

        Returns:
            A new batch on ``device``.

        Example:
            >>> batch = collate_next_token([([1], 3)], eos_id=9).to("cpu")
            >>> batch.categories.device
            device(type='cpu')
        """
        return NextTokenBatch(*(t.to(device, non_blocking=non_blocking) for t in self))


def collate_next_token(
    examples: Sequence[tuple[TokenIds, int]],
    *,
    eos_id: int,
    bos_id: int | None = None,
    pad_id: int = 0,
) -> NextTokenBatch:
    """Collate ``(token ids, category)`` examples into a :class:`NextTokenBatch`.

    Without ``bos_id`` (the lecture's setup) the model reads the ids and predicts each
    next one, then EOS: ``inputs = ids``, ``targets = ids[1:] + [eos_id]``, and the length
    is ``len(ids)``. With ``bos_id`` it also predicts the first id:
    ``inputs = [bos_id] + ids``, ``targets = ids + [eos_id]``, length ``len(ids) + 1``.

    Args:
        examples: ``(ids, category)`` pairs; ``ids`` are the token ids of one sequence.
        eos_id: Id of the end-of-sequence token, the target after the last id.
        bos_id: Id of a beginning-of-sequence token prepended to the inputs, or ``None``.
        pad_id: Id written in ``inputs`` after the end of each sequence.

    Returns:
        The padded batch, on the CPU (move it with :meth:`NextTokenBatch.to`); ``targets``
        are padded with :data:`IGNORE_INDEX`.

    Raises:
        ValueError: If ``examples`` is empty, an example has no ids and there is no
            ``bos_id`` (nothing to read), or an id, a category, ``eos_id`` or ``bos_id`` is
            negative (a negative target would pass for padding); the message gives the
            example's position.
        TypeError: If an example is not an ``(ids, category)`` pair, or ids, a category,
            ``eos_id``, ``bos_id`` or ``pad_id`` are not integers.

    Shape:
        See :class:`NextTokenBatch`; ``T`` is the longest ``len(ids)`` (plus one with BOS).

    Example:
        >>> batch = collate_next_token([([1, 2, 3], 0), ([4], 1)], eos_id=9)
        >>> batch.inputs
        tensor([[1, 2, 3],
                [4, 0, 0]])
        >>> batch.targets
        tensor([[   2,    3,    9],
                [   9, -100, -100]])
        >>> collate_next_token([([4], 1)], eos_id=9, bos_id=8).inputs
        tensor([[8, 4]])
    """
    if len(examples) == 0:
        raise ValueError("expected at least one example to collate, got an empty list")
    pad_id = check_int("pad_id", pad_id)
    for name, special in (("eos_id", eos_id), ("bos_id", bos_id)):
        if (special is not None or name == "eos_id") and check_int(name, special) < 0:
            raise ValueError(f"{name} must be >= 0, got {special}")
    pairs = [_pair(example, position) for position, example in enumerate(examples)]
    ids, lengths = pad_sequences([ids for ids, _ in pairs], padding_value=pad_id)  # (B, T)
    ids, lengths = ids.cpu(), lengths.cpu()
    if bos_id is None:
        empty = (lengths == 0).nonzero()
        if len(empty):
            raise ValueError(
                f"example at position {int(empty[0])} of the batch has no token ids; "
                "pass bos_id to train on empty sequences"
            )
    categories = [
        _label(category, "category", position) for position, (_, category) in enumerate(pairs)
    ]
    # Row b: inputs [bos] + ids[:L], targets ids[:L] + [eos] (without bos: the inputs are
    # ids[:L] and the targets ids[1:L] + [eos]); padding after, IGNORE_INDEX in targets.
    if bos_id is not None:
        ids = torch.cat((ids.new_full((ids.size(0), 1), bos_id), ids), dim=1)  # (B, T + 1)
        lengths = lengths + 1
    steps = torch.arange(ids.size(1))
    last = (lengths - 1).unsqueeze(1)  # (B, 1): the step whose target is EOS
    following = torch.cat((ids[:, 1:], ids.new_zeros(ids.size(0), 1)), dim=1)  # (B, T)
    eos = torch.full_like(ids, eos_id)
    targets = torch.where(steps < last, following, torch.where(steps == last, eos, IGNORE_INDEX))
    return NextTokenBatch(
        inputs=ids,
        lengths=lengths,
        targets=targets,
        categories=torch.tensor(categories, dtype=torch.int64),
    )


@final
@dataclass(frozen=True, kw_only=True)
class NextTokenCollator:
    """:func:`collate_next_token` with its options bound, for a ``DataLoader``.

    A picklable object rather than a lambda or :func:`functools.partial` over a local, so
    it works with ``num_workers > 0``.

    Args:
        eos_id: Id of the end-of-sequence token.
        bos_id: Id of a beginning-of-sequence token, or ``None``.
        pad_id: Id written in the inputs after the end of each sequence.

    Example:
        >>> collate = NextTokenCollator(eos_id=9, bos_id=8)
        >>> collate([([4, 5], 2)]).targets
        tensor([[4, 5, 9]])
    """

    eos_id: int
    bos_id: int | None = None
    pad_id: int = 0

    def __call__(self, examples: Sequence[tuple[TokenIds, int]]) -> NextTokenBatch:
        """Collate ``examples``; see :func:`collate_next_token`.

        Args:
            examples: ``(ids, category)`` pairs.

        Returns:
            The padded batch.
        """
        return collate_next_token(
            examples, eos_id=self.eos_id, bos_id=self.bos_id, pad_id=self.pad_id
        )


class ClassificationBatch(NamedTuple):
    """A batch for sequence classification.

    Shape:
        - inputs: ``(B, T)`` int64 token ids, padded after ``lengths[b]``.
        - lengths: ``(B,)`` int64 number of valid steps of each row.
        - labels: ``(B,)`` int64 class of each row.

    Example:
        >>> collate_classification([([1, 2], 0)]).to("cpu").labels
        tensor([0])
    """

    inputs: Tensor
    lengths: Tensor
    labels: Tensor

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> ClassificationBatch:
        """Move every tensor to ``device``.

        Args:
            device: Target device.
            non_blocking: Passed to :meth:`torch.Tensor.to` (useful with pinned memory).

        Returns:
            A new batch on ``device``.

        Example:
            >>> collate_classification([([1], 0)]).to("cpu").inputs
            tensor([[1]])
        """
        return ClassificationBatch(*(t.to(device, non_blocking=non_blocking) for t in self))


def collate_classification(
    examples: Sequence[tuple[TokenIds, int]], *, pad_id: int = 0
) -> ClassificationBatch:
    """Collate ``(token ids, label)`` examples into a :class:`ClassificationBatch`.

    Args:
        examples: ``(ids, label)`` pairs; every ``ids`` must be non-empty, since a
            classifier reads the state after the last valid step.
        pad_id: Id written after the end of each sequence.

    Returns:
        The padded batch, on the CPU (move it with :meth:`ClassificationBatch.to`).

    Raises:
        ValueError: If ``examples`` is empty, an example has no ids, or an id or a label is
            negative (``cross_entropy`` would skip a label of -100 silently); the message
            gives the example's position.
        TypeError: If an example is not an ``(ids, label)`` pair, or ids, a label or
            ``pad_id`` are not integers.

    Shape:
        See :class:`ClassificationBatch`; ``T`` is the longest ``len(ids)``.

    Example:
        >>> batch = collate_classification([([1, 2, 3], 1), ([4], 0)])
        >>> batch.inputs
        tensor([[1, 2, 3],
                [4, 0, 0]])
        >>> batch.lengths, batch.labels
        (tensor([3, 1]), tensor([1, 0]))
    """
    if len(examples) == 0:
        raise ValueError("expected at least one example to collate, got an empty list")
    pad_id = check_int("pad_id", pad_id)
    pairs = [_pair(example, position) for position, example in enumerate(examples)]
    inputs, lengths = pad_sequences([ids for ids, _ in pairs], padding_value=pad_id)
    inputs, lengths = inputs.cpu(), lengths.cpu()
    empty = (lengths == 0).nonzero()
    if len(empty):
        raise ValueError(f"example at position {int(empty[0])} of the batch has no token ids")
    checked = [_label(label, "label", position) for position, (_, label) in enumerate(pairs)]
    labels = torch.tensor(checked, dtype=torch.int64)
    return ClassificationBatch(inputs=inputs, lengths=lengths, labels=labels)
