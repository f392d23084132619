"""Labelled texts from files (CSV, TSV, JSON Lines) and from in-memory lists of label names.

:func:`read_labeled_file` reads a text column and a label column from a file such as a
spreadsheet export or a JSON Lines dump, telling the format from the suffix
(:func:`read_delimited` for CSV and TSV, :func:`read_jsonl` for JSON Lines);
:func:`from_label_names` builds the same :class:`~seqlearn.data.LabeledTexts` from two
lists, texts and their label names. (With integer labels and a list of categories at hand,
the ``LabeledTexts`` constructor is the direct path.)
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

from seqlearn.data._labels import label_ids, sorted_categories
from seqlearn.data._text_file import line_error, read_lines, read_text
from seqlearn.data.labeled_texts import LabeledTexts

__all__ = ["from_label_names", "read_delimited", "read_jsonl", "read_labeled_file"]

_DELIMITERS = {".tsv": "\t", ".csv": ","}
_JSON_LINES = (".jsonl", ".ndjson")


def from_label_names(
    texts: Sequence[str], label_names: Sequence[str], *, categories: Sequence[str] | None = None
) -> LabeledTexts:
    """Build a :class:`~seqlearn.data.LabeledTexts` from texts and the name of each one's label.

    Args:
        texts: The texts.
        label_names: One category name per text.
        categories: The category names in label order; ``None`` takes the distinct names of
            ``label_names``, sorted: numerically when all are integers (``"2"`` before
            ``"10"``), else by code point.

    Returns:
        The dataset; text ``i`` has label ``categories.index(label_names[i])``.

    Raises:
        ValueError: If ``texts`` and ``label_names`` differ in length, or a label name is
            not one of ``categories``.
        TypeError: If a text or label name is not a ``str``.

    Example:
        >>> data = from_label_names(["Loved it", "Dull", "Fine"], ["pos", "neg", "pos"])
        >>> data.categories, data.labels
        (['neg', 'pos'], [1, 0, 1])
        >>> from_label_names(["ok"], ["3"], categories=["0", "1", "2", "3", "4"]).labels
        [3]
    """
    if len(texts) != len(label_names):
        raise ValueError(
            f"expected as many label names as texts, got {len(texts)} texts and "
            f"{len(label_names)} label names"
        )
    for index, name in enumerate(label_names):
        if not isinstance(name, str):
            raise TypeError(f"expected label names of type str, got {name!r} at {index}")
    names = sorted_categories(label_names) if categories is None else list(categories)
    index_of = {name: index for index, name in enumerate(names)}
    labels: list[int] = []
    for index, name in enumerate(label_names):
        if name not in index_of:
            raise ValueError(f"label {name!r} at {index} is not one of the categories {names}")
        labels.append(index_of[name])
    return LabeledTexts(texts, labels, names)


def _column(path: Path, line: int, header: list[str], name: str, role: str) -> int:
    if header.count(name) != 1:
        problem = "is missing from" if name not in header else "appears twice in"
        raise line_error(path, line, f"the {role} column {name!r} {problem} the header {header}")
    return header.index(name)


def read_delimited(
    path: str | os.PathLike[str],
    *,
    text_column: str,
    label_column: str,
    delimiter: str | None = None,
    categories: Sequence[str] | None = None,
) -> LabeledTexts:
    """Read texts and their labels from a TSV or CSV file with a header line.

    The file is parsed by :mod:`csv` (fields may be quoted with ``"``, doubled inside, and
    may then hold the delimiter or line breaks), decoded as UTF-8 with a leading byte-order
    mark dropped; line ends may be ``\\r\\n``, ``\\n`` or ``\\r``. The first line names the
    columns; blank lines are skipped; every other row must have as many fields as the
    header. Texts are kept as they are; labels are stripped of surrounding whitespace and
    must not be empty. A file holding the header alone gives an empty dataset (with no
    categories unless ``categories`` names them).

    Args:
        path: The file.
        text_column: Header name of the column holding the texts.
        label_column: Header name of the column holding the labels (any strings, such as
            ``pos``/``neg`` or ``0``-``4``).
        delimiter: The field separator; ``None`` picks a tab for a ``.tsv`` file and a
            comma for a ``.csv`` file (suffixes in any case).
        categories: The category names in label order; ``None`` takes the labels found,
            sorted: numerically when all are integers, else by code point.

    Returns:
        A :class:`~seqlearn.data.LabeledTexts` in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``delimiter`` is ``None`` and the suffix is neither ``.tsv`` nor
            ``.csv``; if the file is empty or not UTF-8, a column is missing from (or
            repeated in) the header, a row has the wrong number of fields or badly placed
            quotes, or a label is empty or not one of ``categories``. The message names the
            file and line.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp, "reviews.csv")
        ...     _ = path.write_text('stars,review\\r\\n5,"Great, really"\\r\\n1,Dull\\r\\n')
        ...     data = read_delimited(path, text_column="review", label_column="stars")
        >>> data.categories, list(data)
        (['1', '5'], [('Great, really', 1), ('Dull', 0)])
    """
    file = Path(path)
    if delimiter is None:
        delimiter = _DELIMITERS.get(file.suffix.lower())
        if delimiter is None:
            raise ValueError(
                f"cannot tell the delimiter of {file} from its suffix (expected .tsv or .csv); "
                "pass delimiter='\\t' or delimiter=','"
            )
    reader = csv.reader(io.StringIO(read_text(file), newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if any(field.strip() for field in row):
                rows.append((start, row))
    except csv.Error as exc:
        raise line_error(file, reader.line_num, f"malformed row ({exc})") from exc
    if not rows:
        raise line_error(file, 1, "empty file, expected a header line naming the columns")
    line, header = rows[0]
    text_index = _column(file, line, header, text_column, "text")
    label_index = _column(file, line, header, label_column, "label")
    texts: list[str] = []
    names: list[str] = []
    for number, row in rows[1:]:
        if len(row) != len(header):
            raise line_error(
                file, number, f"expected {len(header)} fields as in the header, got {len(row)}"
            )
        name = row[label_index].strip()
        if not name:
            raise line_error(file, number, f"empty label in column {label_column!r}")
        if categories is not None and name not in categories:
            raise line_error(
                file, number, f"label {name!r} is not one of the categories {list(categories)}"
            )
        texts.append(row[text_index])
        names.append(name)
    return from_label_names(texts, names, categories=categories)


def read_jsonl(
    path: str | os.PathLike[str],
    *,
    text_column: str,
    label_column: str,
    categories: Sequence[str] | None = None,
) -> LabeledTexts:
    """Read texts and their labels from a JSON Lines file: one JSON object a line.

    Each non-blank line is an object holding (at least) the text field and the label
    field. Labels may be names (strings) or integer ids; names are matched against
    ``categories``, ids index it (without ``categories``, each id stands for the name
    ``str(id)``, so ids ``0 .. K-1`` keep their values).

    Args:
        path: The file, UTF-8 (a leading byte-order mark is dropped).
        text_column: The field holding the texts.
        label_column: The field holding the labels.
        categories: The category names in label order; ``None`` takes the labels found,
            sorted: numerically when all are integers, else by code point.

    Returns:
        A :class:`~seqlearn.data.LabeledTexts` in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8, a line is not a JSON object or lacks a field,
            or a label is not one of ``categories``; the message names the file and line.
        TypeError: If a text is not a string or a label neither a string nor an integer
            (naming the file and line).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp, "reviews.jsonl")
        ...     rows = ['{"text": "Great", "stars": 5}', '{"text": "Dull", "stars": 1}']
        ...     _ = path.write_text("\\n".join(rows))
        ...     data = read_jsonl(path, text_column="text", label_column="stars")
        >>> data.categories, list(data)
        (['1', '5'], [('Great', 1), ('Dull', 0)])
    """
    file = Path(path)
    numbers: list[int] = []
    texts: list[object] = []
    values: list[object] = []
    for number, line in enumerate(read_lines(file), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise line_error(file, number, f"not JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise line_error(file, number, f"expected a JSON object, got {type(row).__name__}")
        for field in (text_column, label_column):
            if field not in row:
                raise line_error(file, number, f"no field {field!r} (fields: {sorted(row)})")
        numbers.append(number)
        texts.append(row[text_column])
        values.append(row[label_column])

    def where(index: int) -> str:
        return f"{file}, line {numbers[index]}" if numbers else str(file)

    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{where(index)}: expected a text (str), got {text!r}")
    labels, names = label_ids(values, categories, where)
    return LabeledTexts([str(text) for text in texts], labels, names)


def read_labeled_file(
    path: str | os.PathLike[str],
    *,
    text_column: str,
    label_column: str,
    categories: Sequence[str] | None = None,
) -> LabeledTexts:
    """Read a labelled text file, telling its format from the suffix.

    ``.csv`` and ``.tsv`` files are read by :func:`read_delimited` (a header line names the
    columns), ``.jsonl`` and ``.ndjson`` files by :func:`read_jsonl` (the columns are the
    fields of each line's object). Suffixes match in any case.

    Args:
        path: The file.
        text_column: The column (or field) holding the texts.
        label_column: The column (or field) holding the labels.
        categories: The category names in label order; ``None`` takes the labels found,
            sorted: numerically when all are integers, else by code point.

    Returns:
        A :class:`~seqlearn.data.LabeledTexts` in file order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the suffix is none of these, or as the reader of the format raises
            (naming the file and line).
        TypeError: As :func:`read_jsonl` raises.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp, "animals.TSV")
        ...     _ = path.write_text("name\\tkind\\nrobin\\tbird\\ncod\\tfish\\n")
        ...     data = read_labeled_file(path, text_column="name", label_column="kind")
        >>> data.categories, data.texts
        (['bird', 'fish'], ['robin', 'cod'])
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in _DELIMITERS:
        return read_delimited(
            file, text_column=text_column, label_column=label_column, categories=categories
        )
    if suffix in _JSON_LINES:
        return read_jsonl(
            file, text_column=text_column, label_column=label_column, categories=categories
        )
    raise ValueError(
        f"cannot tell the format of {file} from its suffix: expected .csv, .tsv, .jsonl or .ndjson"
    )
