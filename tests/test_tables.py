"""Labelled texts from files and tables users already have (issue 12, points 1-3): JSON
Lines and the suffix dispatch, pandas DataFrames and Hugging Face datasets (made in memory,
no hub), the learned alphabet, and the checks before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlearn.data import (
    LabeledTexts,
    SentimentPhrases,
    check_classes,
    read_jsonl,
    read_labeled_file,
)
from seqlearn.tokenize import CharTokenizer

pandas = pytest.importorskip("pandas", reason="needs the pandas extra: pip install -e '.[pandas]'")


# JSON Lines and the suffix


def test_json_lines_with_names_and_with_ids(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    rows = [{"t": "Иванов", "y": "ru", "extra": 1}, {"t": "佐藤", "y": "ja"}]
    path.write_text("\n\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    data = read_jsonl(path, text_column="t", label_column="y")
    assert list(data) == [("Иванов", 1), ("佐藤", 0)] and data.categories == ["ja", "ru"]
    path.write_text('{"t": "a", "y": 2}\n{"t": "b", "y": 10}\n', "utf-8")
    assert read_jsonl(path, text_column="t", label_column="y").categories == ["2", "10"]
    named = read_jsonl(path, text_column="t", label_column="y", categories=list("abcdefghijk"))
    assert named.labels == [2, 10]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"t": "a", "y": "x"}\nnot json\n', r"data\.jsonl, line 2: not JSON"),
        ("[1, 2]\n", r"line 1: expected a JSON object, got list"),
        ('{"t": "a"}\n', r"line 1: no field 'y'"),
        ('{"t": 3, "y": "x"}\n', r"line 1: expected a text \(str\), got 3"),
        ('{"t": "a", "y": null}\n', r"line 1: expected a label name \(str\) or id \(int\)"),
        ('{"t": "a", "y": "x"}\n{"t": "b", "y": 1}\n', r"mix names and integer ids"),
    ],
)
def test_json_lines_errors_name_the_file_and_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises((ValueError, TypeError), match=message):
        read_jsonl(path, text_column="t", label_column="y")


def test_the_format_follows_the_suffix(tmp_path: Path) -> None:
    for name, content in [
        ("a.CSV", "t,y\nrobin,bird\n"),
        ("a.tsv", "t\ty\nrobin\tbird\n"),
        ("a.ndjson", '{"t": "robin", "y": "bird"}\n'),
    ]:
        path = tmp_path / name
        path.write_text(content, "utf-8")
        assert list(read_labeled_file(path, text_column="t", label_column="y")) == [("robin", 0)]
    with pytest.raises(ValueError, match=r"expected \.csv, \.tsv, \.jsonl or \.ndjson"):
        read_labeled_file(tmp_path / "a.xlsx", text_column="t", label_column="y")


# pandas


def test_a_dataframe_with_name_id_and_categorical_labels() -> None:
    frame = pandas.DataFrame({"name": ["Ivanov", "Sato", "Petrov"], "lang": ["ru", "ja", "ru"]})
    data = LabeledTexts.from_pandas(frame, text_column="name", label_column="lang")
    assert data.categories == ["ja", "ru"] and data.labels == [1, 0, 1]
    frame["id"] = [1, 0, 1]
    by_id = LabeledTexts.from_pandas(frame, text_column="name", label_column="id",
                                     categories=["Japanese", "Russian"])  # fmt: skip
    assert by_id.categories == ["Japanese", "Russian"] and by_id.labels == [1, 0, 1]
    frame["cat"] = pandas.Categorical(["b", "a", "b"], categories=["b", "a"])
    categorical = LabeledTexts.from_pandas(frame, text_column="name", label_column="cat")
    assert categorical.categories == ["b", "a"] and categorical.labels == [0, 1, 0]


def test_dataframe_errors_name_the_column_or_row() -> None:
    frame = pandas.DataFrame({"name": ["Ivanov", None], "lang": ["ru", "ja"]})
    with pytest.raises(ValueError, match=r"'label' is not among the DataFrame's columns"):
        LabeledTexts.from_pandas(frame, text_column="name", label_column="label")
    with pytest.raises(TypeError, match=r"row 1: expected a text \(str\), got (None|nan)"):
        LabeledTexts.from_pandas(frame, text_column="name", label_column="lang")
    with pytest.raises(TypeError, match="expected a pandas DataFrame, got list"):
        LabeledTexts.from_pandas([], text_column="name", label_column="lang")
    with pytest.raises(ValueError, match=r"row 1: label 'ja' is not one of the categories"):
        LabeledTexts.from_pandas(frame.fillna("x"), text_column="name", label_column="lang",
                                 categories=["ru"])  # fmt: skip


def test_sentiment_phrases_from_a_dataframe() -> None:
    frame = pandas.DataFrame({"review": ["A gem .", "Dull ."], "stars": [4, 0]})
    phrases = SentimentPhrases.from_pandas(frame, text_column="review", label_column="stars")
    assert phrases.labels == [4, 0] and phrases.categories[4] == "positive"
    unlabelled = SentimentPhrases.from_pandas(frame, text_column="review")
    assert unlabelled.labels is None and unlabelled.texts == ["A gem .", "Dull ."]


# Hugging Face datasets, made in memory (no hub, no network)


def test_a_hugging_face_dataset_with_a_class_label() -> None:
    datasets = pytest.importorskip("datasets", reason="needs the hf extra: pip install -e '.[hf]'")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    reviews = datasets.Dataset.from_dict(
        {"text": ["Dull", "Great", "Fine"], "label": [0, 1, 1]}, features=features
    )
    data = LabeledTexts.from_hf_dataset(reviews, text_column="text", label_column="label")
    assert data.categories == ["neg", "pos"] and list(data)[1] == ("Great", 1)
    phrases = SentimentPhrases.from_hf_dataset(reviews, text_column="text", label_column="label")
    assert phrases.categories == ["neg", "pos"] and phrases.labels == [0, 1, 1]
    plain = datasets.Dataset.from_dict({"t": ["a", "b"], "y": ["x", "z"]})
    assert LabeledTexts.from_hf_dataset(plain, text_column="t", label_column="y").labels == [0, 1]
    splits = datasets.DatasetDict({"train": reviews})
    with pytest.raises(TypeError, match=r"DatasetDict with the splits \['train'\]"):
        LabeledTexts.from_hf_dataset(splits, text_column="text", label_column="label")
    with pytest.raises(ValueError, match="'body' is not among the dataset's columns"):
        LabeledTexts.from_hf_dataset(reviews, text_column="body", label_column="label")


# The learned alphabet


def test_the_learned_alphabet_keeps_cyrillic_and_japanese() -> None:
    texts = ["Иванов", "Петров", "佐藤", "佐々木"]
    tokenizer = CharTokenizer.from_texts(texts)
    assert set(tokenizer.alphabet) == set("".join(texts))
    assert list(tokenizer.alphabet) == sorted(tokenizer.alphabet)
    for text in texts:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.encode("Ωμ") == [tokenizer.unk_id, tokenizer.unk_id]
    assert CharTokenizer.from_dict(tokenizer.to_dict()) == tokenizer


def test_min_count_and_the_out_of_alphabet_policies() -> None:
    texts = ["aab", "abc"]
    assert CharTokenizer.from_texts(texts, min_count=2).alphabet == "ab"
    dropping = CharTokenizer.from_texts(texts, min_count=2, oov="drop")
    assert dropping.unk_id is None and dropping.decode(dropping.encode("cab")) == "ab"
    strict = CharTokenizer.from_texts(texts, oov="error")
    with pytest.raises(ValueError, match="'z' at position 0"):
        strict.encode("z")
    folded = CharTokenizer.from_texts(["Nuñez"], fold_unicode=True)
    assert "ñ" not in folded.alphabet and folded.encode("ñ") == folded.encode("n")
    with pytest.raises(ValueError, match="no character occurs at least min_count=4"):
        CharTokenizer.from_texts(texts, min_count=4)
    with pytest.raises(TypeError, match="single str"):
        CharTokenizer.from_texts("abc")
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        CharTokenizer.from_texts(texts, min_count=0)


# Checks before training


def test_check_classes_names_every_problem() -> None:
    check_classes([0] * 5 + [1] * 5, ["a", "b"])
    check_classes([0] * 5, ["a"], min_categories=1)
    with pytest.raises(ValueError, match=r"1 category \('a'\): at least 2 are needed"):
        check_classes([0] * 5, ["a"])
    with pytest.raises(ValueError) as info:
        check_classes([0] * 5 + [1] * 2, ["a", "b", "c"])
    assert "'b' has 2 texts" in str(info.value) and "'c' has no texts" in str(info.value)
    with pytest.raises(ValueError, match="all of them are held out"):
        check_classes([0] * 5 + [1], ["a", "b"], 0.9)
    with pytest.raises(ValueError, match="holds out no text"):
        check_classes([0] * 5 + [1] * 5, ["a", "b"], 0.0)
