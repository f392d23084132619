"""Train/validation splits that keep every label's share, e.g. 20% of names per category."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqlearn._checks import check_int, check_real

__all__ = ["stratified_split"]


def stratified_split(
    labels: Sequence[int],
    valid_fraction: float = 0.2,
    *,
    generator: torch.Generator | None = None,
) -> tuple[list[int], list[int]]:
    """Split example indices into training and validation sets, label by label.

    The examples of each label are put in a random order (one :func:`torch.randperm` per
    label, labels taken in ascending order) and the first ``round(n * valid_fraction)`` of
    them go to validation, where ``n`` is the label's number of examples; the rest go to
    training. The same seeded ``generator`` state gives the same split.

    Small classes follow the same rule, with Python's :func:`round` (halves round to even),
    and are neither dropped nor topped up: with ``valid_fraction=0.2`` a label with 1 or 2
    examples puts none in validation and one with 3 to 7 puts exactly one there. A label
    lands wholly in validation when ``round(n * valid_fraction) == n``, e.g. a single
    example with ``valid_fraction > 0.5``; training then never sees that label.

    Args:
        labels: Label of each example; example ``i`` has label ``labels[i]``.
        valid_fraction: Share of each label's examples that goes to validation, in
            ``[0, 1)``.
        generator: Source of randomness; ``None`` uses torch's global generator.

    Returns:
        ``(train_indices, valid_indices)``: disjoint, each sorted ascending, together
        covering ``range(len(labels))``.

    Raises:
        ValueError: If ``labels`` is empty or ``valid_fraction`` is outside ``[0, 1)``.
        TypeError: If ``valid_fraction`` is not a real number or a label is not an integer
            (the message gives its position).

    Example:
        >>> import torch
        >>> labels = [0] * 10 + [1] * 5
        >>> train, valid = stratified_split(labels, 0.2, generator=torch.Generator().manual_seed(0))
        >>> len(train), len(valid)
        (12, 3)
        >>> sorted(labels[i] for i in valid)
        [0, 0, 1]
        >>> sorted(train + valid) == list(range(15))
        True
    """
    check_real("valid_fraction", valid_fraction)
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    if len(labels) == 0:
        raise ValueError("expected at least one label, got an empty sequence of labels")

    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(check_int(f"labels[{index}]", label), []).append(index)

    train: list[int] = []
    valid: list[int] = []
    for label in sorted(by_label):
        members = by_label[label]
        num_valid = round(len(members) * valid_fraction)
        order = torch.randperm(len(members), generator=generator).tolist()
        valid.extend(members[i] for i in order[:num_valid])
        train.extend(members[i] for i in order[num_valid:])
    return sorted(train), sorted(valid)
