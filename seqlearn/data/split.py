"""Train/validation splits that keep every label's share, e.g. 20% of names per category."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqlearn._checks import check_int, check_real

__all__ = ["check_classes", "stratified_split"]


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


def check_classes(
    labels: Sequence[int],
    categories: Sequence[str],
    valid_fraction: float = 0.2,
    *,
    min_categories: int = 2,
) -> None:
    """Check, before training, that a labelled data set can be split and learned.

    Every category must have texts, and :func:`stratified_split` with ``valid_fraction``
    must leave each one at least one text to validate on and one to train on; there must
    be at least ``min_categories`` categories (a classifier needs two). Data that fails
    these checks trains into a validation loss of ``nan`` or a classifier that never saw a
    class, so it is better refused at once, with a message saying what to do.

    Args:
        labels: The label of each text.
        categories: The category names (label ``i`` names ``categories[i]``).
        valid_fraction: The share of each category that :func:`stratified_split` holds out.
        min_categories: The fewest categories allowed.

    Raises:
        ValueError: Naming every problem found: too few categories, empty categories,
            categories too small to split.

    Example:
        >>> check_classes([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], ["birds", "fish"])  # fine
        >>> try:
        ...     check_classes([0, 0, 0, 0, 0, 1, 1], ["birds", "fish"], 0.2)
        ... except ValueError as error:
        ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
        category 'fish' has 2 texts: with a validation share of 0.2 none of them is held
        out for validation; give it at least 3 texts, or hold out a larger share
    """
    check_real("valid_fraction", valid_fraction)
    counts = [0] * len(categories)
    for label in labels:
        counts[label] += 1
    problems = []
    if len(categories) < min_categories:
        shown = ", ".join(repr(name) for name in categories) or "none"
        problems.append(
            f"{len(categories)} categor{'y' if len(categories) == 1 else 'ies'} ({shown}): "
            f"at least {min_categories} are needed; give each class its own label (or "
            "<category>.txt file)"
        )
    for name, count in zip(categories, counts):
        held_out = round(count * valid_fraction)
        if count == 0:
            problems.append(f"category {name!r} has no texts; remove it or give it some")
        elif held_out == 0 and valid_fraction <= 0:
            problems.append(f"category {name!r}: a validation share of 0 holds out no text")
        elif held_out == 0:
            needed = next(n for n in range(count, 10**6) if round(n * valid_fraction) >= 1)
            problems.append(
                f"category {name!r} has {count} text{'s' * (count != 1)}: with a validation "
                f"share of {valid_fraction:g} none of them is held out for validation; give "
                f"it at least {needed} texts, or hold out a larger share"
            )
        elif held_out == count:
            problems.append(
                f"category {name!r} has {count} text{'s' * (count != 1)}: with a validation "
                f"share of {valid_fraction:g} all of them are held out and none is left to "
                "train on; give it more texts, or hold out a smaller share"
            )
    if problems:
        raise ValueError("; ".join(problems))
