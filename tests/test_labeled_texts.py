from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from seqlearn.data.labeled_texts import LabeledTexts, read_category_folder

# --- LabeledTexts ----------------------------------------------------------------------


def _small() -> LabeledTexts:
    return LabeledTexts(
        ["Abe", "Li", "Lee", "Kim"], [0, 1, 1, 2], ["Japanese", "Chinese", "Korean"]
    )


def test_sequence_protocol() -> None:
    data = _small()
    assert len(data) == 4
    assert data[0] == ("Abe", 0)
    assert data[-1] == ("Kim", 2)
    assert data[np.int64(1)] == ("Li", 1)
    assert list(data) == [("Abe", 0), ("Li", 1), ("Lee", 1), ("Kim", 2)]
    assert data.texts == ["Abe", "Li", "Lee", "Kim"]
    assert data.labels == [0, 1, 1, 2]
    assert data.categories == ["Japanese", "Chinese", "Korean"]
    assert repr(data) == "LabeledTexts(4 texts, 3 categories)"


@pytest.mark.parametrize("index", [4, -5])
def test_index_out_of_range(index: int) -> None:
    with pytest.raises(IndexError, match=f"index {index} out of range for 4 texts"):
        _small()[index]


def test_is_immutable() -> None:
    data = _small()
    data.texts.append("x")
    data.labels[0] = 2
    data.categories.clear()
    assert data.texts == ["Abe", "Li", "Lee", "Kim"]
    assert data.labels == [0, 1, 1, 2]
    assert data.categories == ["Japanese", "Chinese", "Korean"]
    with pytest.raises(AttributeError):
        data.texts = []  # type: ignore[misc]


def test_inputs_are_copied() -> None:
    texts, labels = ["a"], [0]
    data = LabeledTexts(texts, labels, ["x"])
    texts.append("b")
    labels.append(0)
    assert len(data) == 1


def test_counts_include_empty_categories() -> None:
    assert _small().counts() == {"Japanese": 1, "Chinese": 2, "Korean": 1}
    assert _small().subset([1]).counts() == {"Japanese": 0, "Chinese": 1, "Korean": 0}


def test_subset_keeps_categories_and_order() -> None:
    sub = _small().subset([3, 0, 0, -2])
    assert list(sub) == [("Kim", 2), ("Abe", 0), ("Abe", 0), ("Lee", 1)]
    assert sub.categories == ["Japanese", "Chinese", "Korean"]
    assert len(_small().subset([])) == 0
    assert list(_small().subset(torch.tensor([1]))) == [("Li", 1)]
    with pytest.raises(IndexError, match="index 9 out of range"):
        _small().subset([0, 9])


def test_labels_become_ints() -> None:
    data = LabeledTexts(["a", "b"], np.array([1, 0]).tolist(), ["x", "y"])
    assert data.labels == [1, 0]
    data = LabeledTexts(["a", "b"], list(np.array([1, 0])), ["x", "y"])
    assert all(type(label) is int for label in data.labels)


def test_is_a_torch_dataset() -> None:
    data = _small()
    assert isinstance(data, Dataset)
    batches = list(DataLoader(data, batch_size=2, collate_fn=list))
    assert batches == [[("Abe", 0), ("Li", 1)], [("Lee", 1), ("Kim", 2)]]


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="got 2 texts and 1 labels"):
        LabeledTexts(["a", "b"], [0], ["x"])


@pytest.mark.parametrize("label", [-1, 2])
def test_label_out_of_range(label: int) -> None:
    with pytest.raises(ValueError, match=rf"labels in range\(2\), got {label} at 1"):
        LabeledTexts(["a", "b"], [0, label], ["x", "y"])


def test_bad_types_and_duplicate_categories() -> None:
    with pytest.raises(ValueError, match="distinct category names, got 'x' twice"):
        LabeledTexts(["a"], [0], ["x", "x"])
    with pytest.raises(TypeError, match="texts of type str, got bytes at 0"):
        LabeledTexts([b"a"], [0], ["x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"int labels, got 0\.0 at 0"):
        LabeledTexts(["a"], [0.0], ["x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="int labels, got True at 0"):
        LabeledTexts(["a"], [True], ["x"])


def test_empty_dataset() -> None:
    data = LabeledTexts([], [], [])
    assert len(data) == 0 and data.counts() == {}


# --- read_category_folder --------------------------------------------------------------


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_reads_sorted_categories(tmp_path: Path) -> None:
    root = _write(tmp_path, {"b.txt": b"B1\nB2\n", "a.txt": "Ä1\n".encode(), "C.txt": b"c"})
    data = read_category_folder(root)
    assert data.categories == ["C", "a", "b"]  # code point order: upper case first
    assert list(data) == [("c", 0), ("Ä1", 1), ("B1", 2), ("B2", 2)]


def test_line_endings_blank_lines_whitespace_and_bom(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "crlf.txt": b"One\r\nTwo\r\n\r\n",
            "cr.txt": b"One\rTwo\r",
            "blank.txt": b"\n\n  \t\nOne\n \nTwo",
            "bom.txt": b"\xef\xbb\xbfOne\nTwo\n",
            "spaces.txt": "  One \t\nTwo\u00a0\nT w o\n".encode(),
        },
    )
    data = read_category_folder(root)
    by_category = {
        name: [t for t, label in data if label == i] for i, name in enumerate(data.categories)
    }
    assert by_category == {
        "blank": ["One", "Two"],
        "bom": ["One", "Two"],
        "cr": ["One", "Two"],
        "crlf": ["One", "Two"],
        "spaces": ["One", "Two", "T w o"],
    }


def test_ignores_hidden_files_folders_and_other_suffixes(tmp_path: Path) -> None:
    root = _write(
        tmp_path, {"a.txt": b"x\n", "._a.txt": b"\xff\xfe", "notes.md": b"y", "b.TXT": b"z"}
    )
    (root / "sub.txt").mkdir()
    assert read_category_folder(root).categories == ["a"]


def test_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{missing} does not exist")):
        read_category_folder(missing)


def test_not_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x\n")
    with pytest.raises(ValueError, match=re.escape(f"got the file {path}")):
        read_category_folder(path)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(f"category folder {tmp_path} is empty")):
        read_category_folder(tmp_path)


def test_folder_without_txt_files(tmp_path: Path) -> None:
    _write(tmp_path, {"a.csv": b"x", "README.md": b"y"})
    with pytest.raises(
        ValueError, match=re.escape(f"no <category>.txt files in {tmp_path} (found README")
    ):
        read_category_folder(tmp_path)


def test_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, {"a.txt": b"ok\n", "latin.txt": b"Abe\r\nNu\xf1ez\r\nLi\r\n"})
    with pytest.raises(ValueError, match=r"latin\.txt, line 2: not valid UTF-8"):
        read_category_folder(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\n \r\n\t\n", b"\xef\xbb\xbf\n"])
def test_category_without_texts(tmp_path: Path, content: bytes) -> None:
    _write(tmp_path, {"a.txt": b"x\n", "empty.txt": content})
    with pytest.raises(ValueError, match=r"empty\.txt holds no text"):
        read_category_folder(tmp_path)


def test_accepts_str_path(tmp_path: Path) -> None:
    _write(tmp_path, {"a.txt": b"x\n"})
    assert len(read_category_folder(str(tmp_path))) == 1
