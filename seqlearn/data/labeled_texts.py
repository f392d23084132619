"""Labelled texts: a dataset of ``(text, label)`` pairs and a reader for category folders.

A *category folder* holds one ``<category>.txt`` file per class, one text a line, as in the
names of the char-RNN classification lecture (``Arabic.txt``, ``Chinese.txt``, ...).
:func:`read_category_folder` reads one into a :class:`LabeledTexts`.
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import SupportsIndex

from torch.utils.data import Dataset
from typing_extensions import Self, final

from seqlearn.data._frames import hf_columns, pandas_columns
from seqlearn.data._labels import label_ids, texts_of

__all__ = ["LabeledTexts", "read_category_folder"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@final
class LabeledTexts(Dataset[tuple[str, int]]):
    """An immutable dataset of ``(text, label)`` pairs; label ``i`` names ``categories[i]``.

    It is a :class:`torch.utils.data.Dataset`, so a :class:`~torch.utils.data.DataLoader`
    (with a collate function that tokenizes) can batch it directly.

    Args:
        texts: The texts.
        labels: One label per text, each in ``range(len(categories))``; anything usable as
            an index (a NumPy integer, a 0-d integer tensor) is stored as an ``int``.
        categories: The category names, distinct; label ``i`` stands for ``categories[i]``.

    Raises:
        TypeError: If a text or category name is not a ``str`` or a label not an integer.
        ValueError: If ``texts`` and ``labels`` differ in length, a label is out of range,
            or a category name repeats.

    Example:
        >>> data = LabeledTexts(["Abe", "Li", "Lee"], [0, 1, 1], ["Japanese", "Chinese"])
        >>> len(data), data[1]
        (3, ('Li', 1))
        >>> data.counts()
        {'Japanese': 1, 'Chinese': 2}
    """

    def __init__(self, texts: Sequence[str], labels: Sequence[int], categories: Sequence[str]):
        if len(texts) != len(labels):
            raise ValueError(
                f"expected as many labels as texts, got {len(texts)} texts and {len(labels)} labels"
            )
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"expected texts of type str, got {type(text).__name__} at {index}")
        seen: set[str] = set()
        for name in categories:
            if not isinstance(name, str):
                raise TypeError(f"expected category names of type str, got {name!r}")
            if name in seen:
                raise ValueError(f"expected distinct category names, got {name!r} twice")
            seen.add(name)
        num_categories = len(categories)
        checked: list[int] = []
        for index, label in enumerate(labels):
            if isinstance(label, bool):
                raise TypeError(f"expected int labels, got {label!r} at {index}")
            try:
                value = operator.index(label)
            except TypeError:
                raise TypeError(f"expected int labels, got {label!r} at {index}") from None
            if not 0 <= value < num_categories:
                raise ValueError(
                    f"expected labels in range({num_categories}), got {value} at {index}"
                )
            checked.append(value)
        self._texts = tuple(texts)
        self._labels = tuple(checked)
        self._categories = tuple(categories)

    @classmethod
    def from_pandas(
        cls,
        frame: object,
        *,
        text_column: str,
        label_column: str,
        categories: Sequence[str] | None = None,
    ) -> Self:
        """Texts and labels from two columns of a pandas ``DataFrame`` (``pandas``
        extra).

        Labels may be names (strings), integer ids, or a categorical column, whose
        categories become the category names in their order. Names are matched against
        ``categories`` and ids index it; without ``categories`` the names found are sorted
        (numerically when all are integers), and each id stands for the name ``str(id)``.

        Args:
            frame: The DataFrame.
            text_column: The column of texts.
            label_column: The column of labels.
            categories: The category names in label order (not with a categorical column).

        Returns:
            The dataset, in row order.

        Raises:
            ImportError: If pandas is not installed.
            TypeError: If ``frame`` is not a DataFrame, or a text or label has the wrong
                type (a missing value); the message names the row.
            ValueError: If a column is missing or a label is not one of ``categories``.

        Example:
            >>> import pandas as pd
            >>> frame = pd.DataFrame({"name": ["Ivanov", "Sato", "Petrov"],
            ...                       "language": ["Russian", "Japanese", "Russian"]})
            >>> data = LabeledTexts.from_pandas(frame, text_column="name",
            ...                                 label_column="language")
            >>> data.categories, data.labels
            (['Japanese', 'Russian'], [1, 0, 1])
        """
        texts, values, names = pandas_columns(frame, text_column, label_column)
        assert values is not None  # a label column was asked for
        return cls._from_columns(texts, values, names or categories, lambda i: f"row {i}")

    @classmethod
    def from_hf_dataset(
        cls,
        dataset: object,
        *,
        text_column: str,
        label_column: str,
        categories: Sequence[str] | None = None,
    ) -> Self:
        """Texts and labels from two columns of a Hugging Face ``datasets.Dataset``
        (``hf`` extra).

        A ``ClassLabel`` label feature gives the category names (its ``names``); other
        label columns are read as :meth:`from_pandas` reads them.

        Args:
            dataset: The dataset (one split: index a ``DatasetDict`` first).
            text_column: The column of texts.
            label_column: The column of labels.
            categories: The category names in label order (not with a ``ClassLabel``).

        Returns:
            The dataset, in row order.

        Raises:
            ImportError: If ``datasets`` is not installed.
            TypeError: If ``dataset`` is not a ``datasets.Dataset``, or a text or label has
                the wrong type; the message names the row.
            ValueError: If a column is missing or a label is not one of ``categories``.

        Example:
            >>> from datasets import ClassLabel, Dataset, Features, Value
            >>> features = Features({"text": Value("string"),
            ...                      "label": ClassLabel(names=["neg", "pos"])})
            >>> reviews = Dataset.from_dict({"text": ["Dull", "Great"], "label": [0, 1]},
            ...                             features=features)
            >>> data = LabeledTexts.from_hf_dataset(reviews, text_column="text",
            ...                                     label_column="label")
            >>> data.categories, list(data)
            (['neg', 'pos'], [('Dull', 0), ('Great', 1)])
        """
        texts, values, names = hf_columns(dataset, text_column, label_column)
        assert values is not None  # a label column was asked for
        return cls._from_columns(texts, values, names or categories, lambda i: f"row {i}")

    @classmethod
    def _from_columns(
        cls,
        texts: Sequence[object],
        values: Sequence[object],
        categories: Sequence[str] | None,
        where: Callable[[int], str],
    ) -> Self:
        labels, names = label_ids(values, categories, where)
        return cls(texts_of(texts, where), labels, names)

    @property
    def texts(self) -> list[str]:
        """The texts, as a new list on each access.

        Example:
            >>> LabeledTexts(["Abe", "Li"], [0, 1], ["Japanese", "Chinese"]).texts
            ['Abe', 'Li']
        """
        return list(self._texts)

    @property
    def labels(self) -> list[int]:
        """The labels, as a new list on each access.

        Example:
            >>> data = LabeledTexts(["Abe", "Li"], [0, 1], ["Japanese", "Chinese"])
            >>> data.labels  # what stratified_split takes
            [0, 1]
        """
        return list(self._labels)

    @property
    def categories(self) -> list[str]:
        """The category names (label ``i`` names ``categories[i]``), as a new list.

        Example:
            >>> data = LabeledTexts(["Abe", "Li"], [0, 1], ["Japanese", "Chinese"])
            >>> [data.categories[label] for label in data.labels]
            ['Japanese', 'Chinese']
        """
        return list(self._categories)

    def __len__(self) -> int:
        return len(self._texts)

    def __getitem__(self, index: SupportsIndex) -> tuple[str, int]:
        """Return the ``(text, label)`` pair at ``index`` (negative indices count from the end).

        Raises:
            IndexError: If ``index`` is out of range.
        """
        position = operator.index(index)
        if not -len(self) <= position < len(self):
            raise IndexError(f"index {position} out of range for {len(self)} texts")
        return self._texts[position], self._labels[position]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return zip(self._texts, self._labels)

    def __repr__(self) -> str:
        return f"LabeledTexts({len(self)} texts, {len(self._categories)} categories)"

    def counts(self) -> dict[str, int]:
        """Count the texts of each category.

        Returns:
            ``{category: count}`` in category order, including categories with no text.

        Example:
            >>> LabeledTexts(["a", "b"], [1, 1], ["x", "y"]).counts()
            {'x': 0, 'y': 2}
        """
        totals = [0] * len(self._categories)
        for label in self._labels:
            totals[label] += 1
        return dict(zip(self._categories, totals))

    def subset(self, indices: Iterable[SupportsIndex]) -> LabeledTexts:
        """Select texts by position, keeping all categories (so labels keep their meaning).

        Args:
            indices: Positions to keep, in the order wanted; repeats and negative positions
                are allowed.

        Returns:
            A new :class:`LabeledTexts` with the same ``categories``.

        Raises:
            IndexError: If a position is out of range.

        Example:
            >>> data = LabeledTexts(["a", "b", "c"], [0, 1, 0], ["x", "y"])
            >>> list(data.subset([2, 0]))
            [('c', 0), ('a', 0)]
        """
        pairs = [self[index] for index in indices]
        return LabeledTexts(
            [text for text, _ in pairs], [label for _, label in pairs], self._categories
        )


def _category_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise FileNotFoundError(f"category folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"expected a folder of <category>.txt files, got the file {folder}")
    entries = sorted(folder.iterdir(), key=lambda path: path.name)
    if not entries:
        raise ValueError(f"category folder {folder} is empty")
    files = [
        path
        for path in entries
        if path.suffix == ".txt" and not path.name.startswith(".") and path.is_file()
    ]
    if not files:
        found = ", ".join(path.name for path in entries[:5])
        more = ", ..." if len(entries) > 5 else ""
        raise ValueError(f"no <category>.txt files in {folder} (found {found}{more})")
    return files


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}, line {line}: not valid UTF-8 ({exc.reason})") from exc
    text = text.removeprefix("\ufeff")
    return [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]


def read_category_folder(root: str | os.PathLike[str]) -> LabeledTexts:
    """Read a folder of ``<category>.txt`` files, one text a line, into a dataset.

    Categories are the file names without ``.txt``, sorted by name (code point order), so
    labels do not depend on the file system. Files are decoded as UTF-8 (a leading
    byte-order mark is dropped); lines end at ``\\r\\n``, ``\\n`` or ``\\r``; each line is
    stripped of surrounding whitespace, and blank lines are skipped. Hidden files (names
    starting with ``.``), folders and files with other suffixes are ignored.

    Args:
        root: The folder.

    Returns:
        A :class:`LabeledTexts` whose texts follow category order, then line order.

    Raises:
        FileNotFoundError: If ``root`` does not exist.
        ValueError: If ``root`` is not a folder, is empty or holds no ``.txt`` file, if a file
            is not UTF-8 (the message gives the file and line), or if a file holds no text.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "Scottish.txt").write_bytes(b"Smith\\r\\n\\r\\nBrown\\r\\n")
        ...     _ = Path(tmp, "Irish.txt").write_text("Kelly\\n", encoding="utf-8")
        ...     data = read_category_folder(tmp)
        >>> data.categories, list(data)
        (['Irish', 'Scottish'], [('Kelly', 0), ('Smith', 1), ('Brown', 1)])
    """
    folder = Path(root)
    texts: list[str] = []
    labels: list[int] = []
    categories: list[str] = []
    for path in _category_files(folder):
        lines = _read_lines(path)
        if not lines:
            raise ValueError(f"category file {path} holds no text (only blank lines)")
        labels.extend([len(categories)] * len(lines))
        texts.extend(lines)
        categories.append(path.stem)
    return LabeledTexts(texts, labels, categories)
