from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from torch.utils.data import Dataset

from seqlearn.data import (
    SST2_CATEGORIES,
    SST_CATEGORIES,
    LabeledTexts,
    SentimentPhrase,
    SentimentPhrases,
    from_label_names,
    read_delimited,
    read_kaggle_tsv,
    read_sentiment_file,
    read_sst_trees,
)

KAGGLE_HEADER = "PhraseId\tSentenceId\tPhrase\tSentiment"
TREE = "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 great)) (2 .)))"
TREE_PHRASES = [
    ("The Rock is great .", 3),
    ("The Rock", 2),
    ("The", 2),
    ("Rock", 2),
    ("is great .", 4),
    ("is great", 3),
    ("is", 2),
    ("great", 4),
    (".", 2),
]


def _write(path: Path, text: str, *, bom: bool = False, newline: str = "\n") -> Path:
    data = text.replace("\n", newline).encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if bom else data)
    return path


def _error(path: Path, line: int, message: str) -> str:
    """A ``match`` pattern for a ValueError naming ``path`` and ``line``."""
    return re.escape(f"{path}, line {line}: ") + ".*" + message


# --- SentimentPhrases ------------------------------------------------------------------


def test_phrases_defaults_and_protocol() -> None:
    data = SentimentPhrases(["A fine film .", "fine"], [3, 3])
    assert isinstance(data, Dataset)
    assert len(data) == 2
    assert data.categories == list(SST_CATEGORIES)
    assert data.phrase_ids == [None, None] and data.sentence_ids == [None, None]
    assert data.is_sentence == [True, True]
    assert data[-1] == SentimentPhrase("fine", 3, None, None, True)
    assert list(data) == [data[0], data[1]]
    assert repr(data) == "SentimentPhrases(2 phrases, 2 sentences, 5 categories)"
    assert isinstance(data.labeled_texts(), LabeledTexts)
    assert list(data.labeled_texts()) == [("A fine film .", 3), ("fine", 3)]
    with pytest.raises(IndexError, match="index 2 out of range for 2 phrases"):
        data[2]


def _sample() -> SentimentPhrases:
    return SentimentPhrases(
        ["Not bad .", "bad", "Awful .", "Meh ."],
        [3, 0, 0, 2],
        phrase_ids=[10, 11, 12, 13],
        sentence_ids=[1, 1, 2, 3],
        is_sentence=[True, False, True, True],
    )


def test_sentences_subset_and_binary_keep_metadata() -> None:
    data = _sample()
    sentences = data.sentences()
    assert sentences.texts == ["Not bad .", "Awful .", "Meh ."]
    assert sentences.phrase_ids == [10, 12, 13]
    assert sentences.sentence_ids == [1, 2, 3]
    assert all(sentences.is_sentence)
    picked = data.subset([-1, 1, 1])
    assert picked.labels == [2, 0, 0]
    assert picked.phrase_ids == [13, 11, 11]
    assert picked.is_sentence == [True, False, False]
    binary = data.binary()
    assert binary.categories == list(SST2_CATEGORIES)
    assert list(binary) == [
        SentimentPhrase("Not bad .", 1, 10, 1, True),
        SentimentPhrase("bad", 0, 11, 1, False),
        SentimentPhrase("Awful .", 0, 12, 2, True),
    ]
    assert data.counts() == {
        "negative": 2,
        "somewhat negative": 0,
        "neutral": 1,
        "somewhat positive": 1,
        "positive": 0,
    }
    with pytest.raises(IndexError):
        data.subset([4])


def test_unlabelled_phrases() -> None:
    data = SentimentPhrases(["Good .", "Bad ."], None, phrase_ids=[1, 2])
    assert data.labels is None
    assert data[0] == SentimentPhrase("Good .", None, 1, None, True)
    assert repr(data) == "SentimentPhrases(2 phrases, 2 sentences, unlabelled)"
    assert data.subset([1]).labels is None
    assert data.sentences().texts == ["Good .", "Bad ."]
    for method in (data.labeled_texts, data.counts, data.binary):
        with pytest.raises(ValueError, match="no labels"):
            method()


def test_binary_needs_the_sst_categories() -> None:
    data = SentimentPhrases(["a"], [0], categories=["neg", "pos"])
    with pytest.raises(ValueError, match="five SST categories"):
        data.binary()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"labels": [0]}, ValueError, "as many labels as texts"),
        ({"labels": [5, 0]}, ValueError, r"labels in range\(5\), got 5"),
        ({"phrase_ids": [1]}, ValueError, "expected 2 phrase_ids"),
        ({"sentence_ids": [1, "2"]}, TypeError, "int or None sentence_ids, got '2' at 1"),
        ({"phrase_ids": [True, 1]}, TypeError, "int or None phrase_ids, got True at 0"),
        ({"is_sentence": [True]}, ValueError, "expected 2 is_sentence flags"),
        ({"is_sentence": [1, 0]}, TypeError, "bool is_sentence flags, got 1 at 0"),
        ({"categories": ["a", "a"]}, ValueError, "distinct category names"),
        ({"labels": None, "categories": ["a", "a"]}, ValueError, "distinct category names"),
    ],
)
def test_phrases_validate(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    arguments: dict[str, object] = {"texts": ["a", "b"], "labels": [0, 1], **kwargs}
    with pytest.raises(error, match=message):
        SentimentPhrases(**arguments)  # type: ignore[arg-type]


def test_unlabelled_texts_are_checked() -> None:
    with pytest.raises(TypeError, match="texts of type str, got int at 1"):
        SentimentPhrases(["a", 3], None)  # type: ignore[list-item]


# --- read_kaggle_tsv -------------------------------------------------------------------

KAGGLE = (
    f"{KAGGLE_HEADER}\n"
    "1\t1\tThe Rock is great .\t3\n"
    "2\t1\tThe Rock\t2\n"
    "3\t1\tgreat\t4\n"
    "5\t2\tdull\t1\n"  # sentence 2 kept only a phrase: its lowest id counts as the sentence
    "4\t3\tMeh .\t2\n"
)


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True), ("\r", False)])
def test_read_kaggle_tsv(tmp_path: Path, newline: str, bom: bool) -> None:
    path = _write(tmp_path / "train.tsv", KAGGLE + "\n\n", bom=bom, newline=newline)
    data = read_kaggle_tsv(path)
    assert data.texts == ["The Rock is great .", "The Rock", "great", "dull", "Meh ."]
    assert data.labels == [3, 2, 4, 1, 2]
    assert data.phrase_ids == [1, 2, 3, 5, 4]
    assert data.sentence_ids == [1, 1, 1, 2, 3]
    assert data.is_sentence == [True, False, False, True, True]
    assert data.categories == list(SST_CATEGORIES)
    assert read_sentiment_file(path).texts == data.texts


def test_read_kaggle_test_file_unlabelled(tmp_path: Path) -> None:
    text = "PhraseId\tSentenceId\tPhrase\n9\t4\tA film .\n8\t4\tfilm .\n10\t4\t\n"
    data = read_kaggle_tsv(_write(tmp_path / "test.tsv", text))
    assert data.labels is None
    assert data.texts == ["A film .", "film .", ""]
    assert data.is_sentence == [False, True, False]


def test_read_kaggle_columns_by_name(tmp_path: Path) -> None:
    text = "Sentiment\tPhrase\tNote\tSentenceId\tPhraseId\n4\tGreat .\tx\t7\t70\n"
    data = read_kaggle_tsv(_write(tmp_path / "other.tsv", text))
    assert list(data) == [SentimentPhrase("Great .", 4, 70, 7, True)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("6\t3\tgood", "expected 4 tab-separated columns, got 3"),
        ("6\t3\tgood\t3\textra", "expected 4 tab-separated columns, got 5"),
        ("6\t3\tgood\t5", "expected a Sentiment label 0-4, got '5'"),
        ("6\t3\tgood\tpositive", "expected a Sentiment label 0-4, got 'positive'"),
        ("6\t3\tgood\t", "expected a Sentiment label 0-4, got ''"),
        ("6x\t3\tgood\t3", "expected an integer PhraseId, got '6x'"),
        ("6\t-3\tgood\t3", "expected an integer SentenceId, got '-3'"),
        ("2\t3\tgood\t3", r"PhraseId 2 repeats \(first on line 4\)"),
    ],
)
def test_read_kaggle_malformed_rows(tmp_path: Path, row: str, message: str) -> None:
    text = f"{KAGGLE_HEADER}\r\n1\t1\tGood .\t3\r\n\r\n2\t1\tGood\t3\r\n{row}\r\n7\t4\tok\t2\r\n"
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(ValueError, match=_error(path, 5, message)):
        read_kaggle_tsv(path)
    with pytest.raises(ValueError, match=_error(path, 5, message)):
        read_sentiment_file(path)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file"),
        ("\n  \n\r\n", 1, "empty file"),
        ("\nPhraseId\tPhrase\tSentiment\n1\tGood\t3\n", 2, "missing SentenceId"),
        ("PhraseId\tSentenceId\tPhrase\tPhrase\n", 1, "repeated header columns Phrase"),
    ],
)
def test_read_kaggle_bad_files(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(ValueError, match=_error(path, line, message)):
        read_kaggle_tsv(path)


def test_read_kaggle_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.tsv"
    path.write_bytes(f"{KAGGLE_HEADER}\n1\t1\tGood\t3\n2\t1\tNu".encode() + b"\xf1ez\t2\n")
    with pytest.raises(ValueError, match=_error(path, 3, "not valid UTF-8")):
        read_kaggle_tsv(path)


def test_missing_file(tmp_path: Path) -> None:
    for read in (read_kaggle_tsv, read_sst_trees, read_sentiment_file):
        with pytest.raises(FileNotFoundError):
            read(tmp_path / "missing.txt")


# --- read_sst_trees --------------------------------------------------------------------


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True)])
def test_read_sst_sentences(tmp_path: Path, newline: str, bom: bool) -> None:
    text = f"{TREE}\n\n(1 (1 Dull) (2 .))\n(2 (2 Meh) (2 .))"
    path = _write(tmp_path / "dev.txt", text, bom=bom, newline=newline)
    data = read_sst_trees(path)
    assert list(data) == [
        SentimentPhrase("The Rock is great .", 3, None, 1, True),
        SentimentPhrase("Dull .", 1, None, 2, True),
        SentimentPhrase("Meh .", 2, None, 3, True),
    ]
    binary = read_sst_trees(path, binary=True)
    assert binary.categories == list(SST2_CATEGORIES)
    assert list(zip(binary.texts, binary.labels or [])) == [
        ("The Rock is great .", 1),
        ("Dull .", 0),
    ]


def test_read_sst_phrases(tmp_path: Path) -> None:
    path = _write(tmp_path / "train.txt", f"{TREE}\n(2 (2 (2 so) (2 so)) (2 .))\n")
    data = read_sst_trees(path, phrases=True)
    first = data.subset(range(len(TREE_PHRASES)))
    assert list(zip(first.texts, first.labels or [])) == TREE_PHRASES
    assert data.texts[len(TREE_PHRASES) :] == ["so so .", "so so", "so", "."]  # "so" once
    assert data.sentence_ids == [1] * len(TREE_PHRASES) + [2] * 4
    assert data.sentences().texts == ["The Rock is great .", "so so ."]
    assert set(data.phrase_ids) == {None}
    binary = read_sst_trees(path, phrases=True, binary=True)
    assert binary.texts == ["The Rock is great .", "is great .", "is great", "great"]
    assert read_sentiment_file(path).texts == data.texts  # trees read with every phrase


def test_read_sst_words_with_other_spaces(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.txt", "(2 (2 8\u00a01\\/2) (2  Weeks\t))\n")
    assert read_sst_trees(path, phrases=True).texts == [
        "8\u00a01\\/2 Weeks",
        "8\u00a01\\/2",
        "Weeks",
    ]


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ("(3 (2 Good) (3 fun)", r"unbalanced brackets: 1 '\(' not closed"),
        ("(3 (2 Good) (3 (3 fun)", r"unbalanced brackets: 2 '\(' not closed"),
        ("(3 (2 Good)) (3 fun))", r"unexpected '\(' after the tree's end \(column 14\)"),
        ("(3 (2 Good) (3 fun)))", r"unbalanced brackets: '\)' closes nothing \(column 21\)"),
        (")(3 Good)", r"'\)' closes nothing \(column 1\)"),
        ("(5 (2 Good) (3 fun))", r"expected a label 0-4 after '\(', got '5' \(column 2\)"),
        ("(3 (x Good) (3 fun))", r"expected a label 0-4 after '\(', got 'x'"),
        ("(3 (Good) (3 fun))", r"expected a label 0-4 after '\(', got 'Good'"),
        ("(3 ((2 Good)) (3 fun))", r"expected a label 0-4 after '\(', got '\('"),
        ("(3 (2 Good) (3 fun) (", r"expected a label 0-4 after '\(', got the end of the line"),
        ("(3 (2) (3 fun))", r"empty node \(column 6\)"),
        ("(3 (2 Good fun) (3 fun))", "unexpected word 'fun': a node holds one word or subtrees"),
        ("(3 (2 Good) fun)", "unexpected word 'fun'"),
        ("(3 Good (3 fun))", "a node holds both a word and subtrees"),
        ("Good (3 fun)", r"expected '\(' to start a tree, got 'Good'"),
    ],
)
def test_read_sst_malformed_trees(tmp_path: Path, tree: str, message: str) -> None:
    path = _write(tmp_path / "bad.txt", f"{TREE}\r\n\r\n{tree}\r\n{TREE}\r\n")
    with pytest.raises(ValueError, match=_error(path, 3, message)):
        read_sst_trees(path)
    with pytest.raises(ValueError, match=_error(path, 3, message)):
        read_sst_trees(path, phrases=True)


def test_read_sst_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.txt", "\ufeff\n \n")
    with pytest.raises(ValueError, match=_error(path, 1, "empty file")):
        read_sst_trees(path)


# --- read_sentiment_file ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file"),
        ("\ntext\tlabel\ngood\t4\n", 2, "neither a Kaggle TSV"),
        ("PhraseId,SentenceId,Phrase,Sentiment\n", 1, "use read_delimited"),
    ],
)
def test_read_sentiment_file_unknown(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "data.tsv", text)
    with pytest.raises(ValueError, match=_error(path, line, message)):
        read_sentiment_file(path)


# --- read_delimited and from_label_names -----------------------------------------------


def test_from_label_names() -> None:
    data = from_label_names(["a", "b", "c", "d"], ["10", "2", "-1", "2"])
    assert data.categories == ["-1", "2", "10"]  # integers sort numerically
    assert data.labels == [2, 1, 0, 1]
    assert from_label_names(["a", "b"], ["pos", "Neg"]).categories == ["Neg", "pos"]
    fixed = from_label_names(["a"], ["pos"], categories=["neg", "pos", "neutral"])
    assert fixed.categories == ["neg", "pos", "neutral"] and fixed.labels == [1]
    with pytest.raises(ValueError, match="as many label names as texts"):
        from_label_names(["a"], [])
    with pytest.raises(ValueError, match=r"label 'meh' at 1 is not one of the categories"):
        from_label_names(["a", "b"], ["pos", "meh"], categories=["neg", "pos"])
    with pytest.raises(TypeError, match="label names of type str, got 1 at 0"):
        from_label_names(["a"], [1])  # type: ignore[list-item]


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True), ("\r", False)])
def test_read_delimited_csv(tmp_path: Path, newline: str, bom: bool) -> None:
    text = 'id,review,stars\n1,"Great, really",5\n\n2,"He said ""dull""\nand left", 1\n3,ok,3\n'
    path = _write(tmp_path / "Reviews.CSV", text, bom=bom, newline=newline)
    data = read_delimited(path, text_column="review", label_column="stars")
    assert data.categories == ["1", "3", "5"]
    assert list(data) == [
        ("Great, really", 2),
        (f'He said "dull"{newline}and left', 0),
        ("ok", 1),
    ]


def test_read_delimited_tsv_and_explicit_delimiter(tmp_path: Path) -> None:
    text = "label\ttext\npos\tLoved it\nneg\tDull ; slow\n"
    data = read_delimited(
        _write(tmp_path / "a.tsv", text), text_column="text", label_column="label"
    )
    assert data.categories == ["neg", "pos"] and list(data) == [("Loved it", 1), ("Dull ; slow", 0)]
    semicolons = _write(tmp_path / "a.txt", "label;text\npos;Loved it\n")
    with pytest.raises(ValueError, match=r"cannot tell the delimiter of .*a\.txt"):
        read_delimited(semicolons, text_column="text", label_column="label")
    data = read_delimited(
        semicolons,
        text_column="text",
        label_column="label",
        delimiter=";",
        categories=["neg", "pos"],
    )
    assert data.categories == ["neg", "pos"] and list(data) == [("Loved it", 1)]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file"),
        ("\n\ntext,stars\n", 3, r"the label column 'label' is missing from the header"),
        ("text,label,text\n", 1, "the text column 'text' appears twice in the header"),
        ("text,label\nok,pos\nbad\n", 3, "expected 2 fields as in the header, got 1"),
        ("text,label\nok,pos\nbad,neg,x\n", 3, "expected 2 fields as in the header, got 3"),
        ("text,label\nok,pos\nbad, \n", 3, "empty label in column 'label'"),
        ("text,label\nok,pos\nbad,meh\n", 3, r"label 'meh' is not one of the categories"),
        ('text,label\nok,pos\n"bad" x,neg\n', 3, "malformed row"),
        ('text,label\nok,pos\n"bad,neg\n', 3, "malformed row"),
    ],
)
def test_read_delimited_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=_error(path, line, message)):
        read_delimited(path, text_column="text", label_column="label", categories=["neg", "pos"])


# --- the real files --------------------------------------------------------------------

KAGGLE_COUNTS = {
    "train": [7233, 27711, 81658, 33361, 9311],
    "valid": [1004, 4101, 13377, 4900, 1390],
}


@pytest.fixture
def rotten_tomatoes(shared_data_dir: Path) -> Path:
    folder = shared_data_dir / "rotten_tomatoes"
    if not (folder / "train.tsv").is_file():
        pytest.skip(f"{shared_data_dir} has no rotten_tomatoes/train.tsv")
    return folder


@pytest.fixture
def sst_trees(shared_data_dir: Path) -> Path:
    folder = shared_data_dir / "sst"
    if not (folder / "train.txt").is_file():
        pytest.skip(f"{shared_data_dir} has no sst/train.txt")
    return folder


@pytest.mark.parametrize(
    ("split", "phrases", "sentences"), [("train", 159_274, 8_533), ("valid", 24_772, 1_100)]
)
def test_real_kaggle_files(rotten_tomatoes: Path, split: str, phrases: int, sentences: int) -> None:
    data = read_sentiment_file(rotten_tomatoes / f"{split}.tsv")
    assert len(data) == phrases
    assert len(set(data.texts)) == phrases  # each distinct phrase once
    assert data.categories == list(SST_CATEGORIES)
    assert list(data.counts().values()) == KAGGLE_COUNTS[split]
    assert len(data.sentences()) == sentences
    assert data.phrase_ids == sorted(data.phrase_ids, key=lambda i: i or 0)


@pytest.mark.parametrize(
    ("split", "sentences", "binary"), [("train", 8544, 6920), ("dev", 1101, 872)]
)
def test_real_trees(sst_trees: Path, split: str, sentences: int, binary: int) -> None:
    data = read_sst_trees(sst_trees / f"{split}.txt")
    assert len(data) == sentences
    assert data.sentence_ids == list(range(1, sentences + 1))
    assert len(data.binary()) == binary


def _by_sentence(data: SentimentPhrases) -> dict[int, tuple[str, int | None]]:
    """The text and label of each item, by its sentence id."""
    found: dict[int, tuple[str, int | None]] = {}
    for item in data:
        assert item.sentence_id is not None
        found[item.sentence_id] = (item.text, item.label)
    return found


@pytest.mark.parametrize(
    ("tsv", "trees", "missing", "wrong"),
    [
        (
            "train",
            "train",
            [2334, 4701, 5289, 6585, 7104, 7678, 8263, 8288, 8310, 8360, 8496],
            [8178],
        ),
        ("valid", "dev", [664], []),
    ],
)
def test_real_tsv_sentences_match_trees(
    rotten_tomatoes: Path,
    sst_trees: Path,
    tsv: str,
    trees: str,
    missing: list[int],
    wrong: list[int],
) -> None:
    """The lowest PhraseId of a SentenceId is its tree's whole sentence, with two exceptions:
    a sentence whose every phrase appeared earlier in the file has no row, and sentence 8178
    of train ("Hey Arnold !", already a phrase of sentence 6800) kept only "Arnold !"."""
    roots = _by_sentence(read_sst_trees(sst_trees / f"{trees}.txt"))
    rows = read_kaggle_tsv(rotten_tomatoes / f"{tsv}.tsv")
    found = _by_sentence(rows.sentences())
    assert sorted(set(roots) - set(found)) == missing
    assert sorted(i for i in found if found[i] != roots[i]) == wrong
    texts = set(rows.texts)
    assert all(roots[i][0] in texts for i in missing + wrong)  # a phrase of another sentence


def test_real_tree_phrases_are_the_tsv_phrases(rotten_tomatoes: Path, sst_trees: Path) -> None:
    """Every distinct phrase of the dev trees, with its label, is a row of valid.tsv."""
    first: dict[str, int | None] = {}
    for phrase in read_sst_trees(sst_trees / "dev.txt", phrases=True):
        first.setdefault(phrase.text, phrase.label)
    rows = read_kaggle_tsv(rotten_tomatoes / "valid.tsv")
    assert first == dict(zip(rows.texts, rows.labels or []))
    assert Counter(first.values()) == Counter(rows.labels)
