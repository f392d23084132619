"""Columns of tables that users already have: pandas DataFrames, Hugging Face datasets.

Neither library is imported unless one of these functions is called, and neither is a
dependency of seqlearn: the extras ``pandas`` and ``hf`` install them (private).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["hf_columns", "pandas_columns"]


def _library(name: str, extra: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"this needs the {name} package: pip install -e '.[{extra}]' from a clone of "
            f"seqlearn, or pip install {name}"
        ) from error


def _missing(column: str, role: str, columns: list[str], what: str) -> ValueError:
    return ValueError(f"the {role} column {column!r} is not among the {what}'s columns {columns}")


def pandas_columns(
    frame: object, text_column: str, label_column: str | None
) -> tuple[list[object], list[object] | None, list[str] | None]:
    """The texts, the label values and, for a categorical label column, its categories.

    Raises:
        ImportError: If pandas is not installed.
        TypeError: If ``frame`` is not a :class:`pandas.DataFrame`.
        ValueError: If a column is missing, or a categorical label is missing (NaN).
    """
    pandas = _library("pandas", "pandas")
    if not isinstance(frame, pandas.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    columns = [str(name) for name in frame.columns]
    for column, role in ((text_column, "text"), (label_column, "label")):
        if column is not None and column not in frame.columns:
            raise _missing(column, role, columns, "DataFrame")
    texts = frame[text_column].tolist()
    if label_column is None:
        return texts, None, None
    labels = frame[label_column]
    if isinstance(labels.dtype, pandas.CategoricalDtype):
        codes = labels.cat.codes.tolist()
        if -1 in codes:
            row = codes.index(-1)
            raise ValueError(f"row {row} of column {label_column!r}: missing label")
        return texts, codes, [str(name) for name in labels.cat.categories]
    return texts, labels.tolist(), None


def hf_columns(
    dataset: object, text_column: str, label_column: str | None
) -> tuple[list[object], list[object] | None, list[str] | None]:
    """The texts, the label values and, for a ``ClassLabel`` label feature, its names.

    Raises:
        ImportError: If the ``datasets`` package is not installed.
        TypeError: If ``dataset`` is not a :class:`datasets.Dataset` (a ``DatasetDict``
            must be indexed by split first).
        ValueError: If a column is missing.
    """
    datasets = _library("datasets", "hf")
    if isinstance(dataset, datasets.DatasetDict):
        raise TypeError(
            f"expected a datasets.Dataset, got a DatasetDict with the splits "
            f"{sorted(dataset)}; pass one split, e.g. dataset['train']"
        )
    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"expected a datasets.Dataset, got {type(dataset).__name__}")
    columns = list(dataset.column_names)
    for column, role in ((text_column, "text"), (label_column, "label")):
        if column is not None and column not in columns:
            raise _missing(column, role, columns, "dataset")
    texts = list(dataset[text_column])
    if label_column is None:
        return texts, None, None
    feature = dataset.features[label_column]
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return texts, list(dataset[label_column]), names
