"""Label values as ids and category names, whatever form a table holds them in (private).

Tables hold labels as names (``"pos"``, ``"Russian"``) or as integer ids; pandas may hold
them as a categorical column and Hugging Face ``datasets`` as a ``ClassLabel`` feature,
both of which carry the names. These helpers turn any of them into the ``(labels,
categories)`` that :class:`~seqlearn.data.LabeledTexts` takes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["label_ids", "sorted_categories", "texts_of"]

_INTEGER = re.compile(r"[+-]?[0-9]+")


def sorted_categories(names: Iterable[str]) -> list[str]:
    """Distinct names, in numeric order when all are integers, else in code point order."""
    distinct = set(names)
    if all(_INTEGER.fullmatch(name) for name in distinct):
        return sorted(distinct, key=lambda name: (int(name), name))
    return sorted(distinct)


def texts_of(values: Sequence[object], where: Callable[[int], str]) -> list[str]:
    """``values`` as texts.

    Raises:
        TypeError: If a value is not a ``str`` (a missing value, a number), naming its row.
    """
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"{where(index)}: expected a text (str), got {value!r}")
    return list(values)  # type: ignore[arg-type]


def label_ids(
    values: Sequence[object],
    categories: Sequence[str] | None,
    where: Callable[[int], str],
) -> tuple[list[int], list[str]]:
    """Labels given as names or as integer ids, as ids in ``range(len(categories))``.

    Names (strings) are looked up in ``categories``; without them the categories are the
    distinct names, sorted (numerically when all are integers). Integer ids index
    ``categories`` when given; without them each id stands for the name ``str(id)``, so
    ids ``0 .. K-1`` keep their values.

    Raises:
        TypeError: If a value is neither a string nor an integer (a missing value), or
            names and ids are mixed; the message names the row through ``where``.
        ValueError: If a name is not one of ``categories`` or an id is out of its range.
    """
    names: list[str] = []
    ids: list[int] = []
    for index, value in enumerate(values):
        if isinstance(value, str):
            names.append(value)
            continue
        if isinstance(value, bool):
            raise TypeError(f"{where(index)}: expected a label name or id, got {value!r}")
        try:
            ids.append(operator.index(value))  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{where(index)}: expected a label name (str) or id (int), got {value!r}"
            ) from None
    if names and ids:
        raise TypeError(f"{where(0)}: labels mix names and integer ids; use one or the other")
    if ids and categories is not None:
        for index, value in enumerate(ids):
            if not 0 <= value < len(categories):
                raise ValueError(
                    f"{where(index)}: label id {value} is outside range({len(categories)}) "
                    f"of the categories {list(categories)}"
                )
        return ids, list(categories)
    if ids:
        names = [str(value) for value in ids]
    chosen = sorted_categories(names) if categories is None else list(categories)
    index_of = {name: i for i, name in enumerate(chosen)}
    labels = []
    for index, name in enumerate(names):
        if name not in index_of:
            raise ValueError(
                f"{where(index)}: label {name!r} is not one of the categories {chosen}"
            )
        labels.append(index_of[name])
    return labels, chosen
