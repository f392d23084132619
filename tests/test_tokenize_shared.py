"""The tokenize package's shared private modules: JSON settings files and batches of ids
(issue 13, point 6)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

import seqlearn.tokenize
from seqlearn.tokenize import CharTokenizer, Vocabulary, WordTokenizer
from seqlearn.tokenize._batch import checked_ids, decode_rows, encode_texts, id_list
from seqlearn.tokenize._json import JsonFormat, field, str_or_none_field

EXAMPLE = JsonFormat("seqlearn.Example", 2, ("size", "name"), indent=2)


def _example(data: Mapping[str, object]) -> dict[str, object]:
    EXAMPLE.check(data)
    return {"size": field(data, "size", int), "name": str_or_none_field(data, "name")}


# JSON settings


def test_header_comes_first_and_tags_format_and_version() -> None:
    assert list({**EXAMPLE.header(), "size": 1}.items()) == [
        ("format", "seqlearn.Example"),
        ("version", 2),
        ("size", 1),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], "expected a mapping of fields, got list"),
        ({"version": 2}, "missing field 'format'"),
        ({"format": 3, "version": 2}, "field 'format' must be a str, got 3"),
        ({"format": "seqlearn.Other", "version": 2}, "field 'format' is 'seqlearn.Other'"),
        ({"format": "seqlearn.Example"}, "missing field 'version'"),
        ({"format": "seqlearn.Example", "version": True}, "field 'version' must be a int"),
        ({"format": "seqlearn.Example", "version": 1}, "field 'version' is 1, expected 2"),
        (
            {"format": "seqlearn.Example", "version": 2, "b": 0, "a": 0},
            "unknown field(s) ['a', 'b']; expected only ['format', 'version', 'size', 'name']",
        ),
    ],
)
def test_check_names_the_field_at_fault(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        EXAMPLE.check(data)


def test_check_accepts_missing_payload_fields_for_the_readers_to_name() -> None:
    EXAMPLE.check(EXAMPLE.header())
    with pytest.raises(ValueError, match="missing field 'size'"):
        _example(EXAMPLE.header())


def test_field_readers() -> None:
    assert field({"n": 3}, "n", int) == 3
    with pytest.raises(ValueError, match=re.escape("field 'n' must be a int, got False")):
        field({"n": False}, "n", int)
    assert str_or_none_field({"s": None}, "s") is None
    assert str_or_none_field({"s": "x"}, "s") == "x"
    with pytest.raises(ValueError, match=re.escape("field 's' must be a str or null, got 1")):
        str_or_none_field({"s": 1}, "s")
    with pytest.raises(ValueError, match="missing field 's'"):
        str_or_none_field({}, "s")


def test_write_then_read_gives_the_data_back(tmp_path: Path) -> None:
    data = {**EXAMPLE.header(), "size": 3, "name": "é"}
    EXAMPLE.write(tmp_path / "x.json", data)
    assert (tmp_path / "x.json").read_text(encoding="utf-8") == json.dumps(data, indent=2) + "\n"
    assert EXAMPLE.read(tmp_path / "x.json", _example) == {"size": 3, "name": "é"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Expecting property name"),
        ('{"format": "seqlearn.Example", "version": 2, "size": "3"}', "field 'size'"),
    ],
)
def test_read_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: .*{re.escape(message)}"):
        EXAMPLE.read(path, _example)


def test_read_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EXAMPLE.read(tmp_path / "missing.json", _example)


@pytest.mark.parametrize(
    ("saved", "indent", "ensure_ascii"),
    [
        (CharTokenizer("aéж", fold_unicode=False), 2, True),
        (Vocabulary(["é"]), 1, False),
        (WordTokenizer(Vocabulary(["é"])), 1, False),
    ],
)
def test_each_class_keeps_its_file_layout(
    tmp_path: Path,
    saved: CharTokenizer | Vocabulary | WordTokenizer,
    indent: int,
    ensure_ascii: bool,
) -> None:
    saved.save(tmp_path / "saved.json")
    expected = json.dumps(saved.to_dict(), indent=indent, ensure_ascii=ensure_ascii) + "\n"
    assert (tmp_path / "saved.json").read_text(encoding="utf-8") == expected


# Batches of ids


def _letters(text: str) -> list[int]:
    if "!" in text:
        raise ValueError(f"'!' in {text!r}")
    return [ord(c) - ord("a") + 1 for c in text]


def test_encode_texts_pads_after_each_text() -> None:
    tokens, lengths = encode_texts(["ab", "", "c"], _letters, 0)
    assert tokens.tolist() == [[1, 2], [0, 0], [3, 0]]
    assert lengths.tolist() == [2, 0, 1]
    assert tokens.dtype == lengths.dtype == torch.int64


@pytest.mark.parametrize(
    ("texts", "pad_id", "error", "message"),
    [
        ("ab", None, TypeError, "got a single str"),  # before the missing PAD
        ([], None, ValueError, "empty batch"),  # before the missing PAD
        (["a"], None, ValueError, "pads with PAD, but the vocabulary has none"),
        (["a", "b!"], 0, ValueError, "texts[1]: '!' in 'b!'"),
    ],
)
def test_encode_texts_errors(
    texts: list[str], pad_id: int | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        encode_texts(texts, _letters, pad_id)


def test_decode_rows_decodes_the_first_lengths_ids() -> None:
    tokens = torch.tensor([[1, 2, 0], [3, 0, 0]])
    assert decode_rows(tokens, [2, 1], str) == ["[1, 2]", "[3]"]
    assert decode_rows([[1], [2, 3]], None, str) == ["[1]", "[2, 3]"]


@pytest.mark.parametrize(
    ("ids", "lengths", "error", "message"),
    [
        (torch.tensor([1, 2]), None, ValueError, "expected a 2-D tensor of ids, got shape (2,)"),
        ([[1], [2]], [1], ValueError, "expected 2 lengths, one per row, got 1"),
        ([[1], [2]], [1, 2], ValueError, "row 1: length 2 is out of range [0, 1]"),
        ([[1], [2.5]], None, TypeError, "row 1: expected integer ids, got 2.5 at position 0"),
    ],
)
def test_decode_rows_errors(
    ids: list[list[int]], lengths: list[int] | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        decode_rows(ids, lengths, str)


def test_id_lists() -> None:
    assert id_list(torch.tensor([2, 0])) == id_list((2, 0)) == [2, 0]
    with pytest.raises(TypeError, match="integer tensor of lengths"):
        id_list(torch.tensor([1.0]), "lengths")
    with pytest.raises(TypeError, match="sequence of ids, got str"):
        id_list("12")  # type: ignore[arg-type]
    assert checked_ids([0, 2], 3) == [0, 2]
    with pytest.raises(ValueError, match=re.escape("id 3 at position 1 is out of range")):
        checked_ids([0, 3], 3)


# The package's layout


def test_no_tokenize_module_imports_a_private_name() -> None:
    package = Path(seqlearn.tokenize.__file__).parent
    found = [
        f"{path.name}: {node.module}.{alias.name}"
        for path in sorted(package.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert found == []
