# mypy: disable-error-code="arg-type, list-item"
# (the calls below break the signatures on purpose)
"""Bad-input sweep, data: damaged files for every loader, damaged data folders, and bad
arguments to batching, splitting and sampling (issue 7, point 3).

Every loader either reads a file correctly (CRLF, CR, a byte-order mark) or raises the
documented error naming the file; never a bare IndexError, KeyError or UnicodeDecodeError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from seqlearn.data import (
    DataIntegrityError,
    LengthBucketSampler,
    ShardedBatchSampler,
    collate_classification,
    collate_next_token,
    load_names,
    load_sst,
    normalized_text_sha256,
    pad_sequences,
    read_category_folder,
    read_delimited,
    read_kaggle_tsv,
    read_sentiment_file,
    read_sst_trees,
    stratified_split,
    verify_names,
)
from seqlearn.data import names as names_module
from seqlearn.data import sst as sst_module

BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"
BOM = b"\xef\xbb\xbf"


def _variants(good: bytes) -> dict[str, bytes]:
    """The same content with other line ends and a byte-order mark: each must load alike."""
    return {
        "lf": good,
        "crlf": good.replace(b"\n", b"\r\n"),
        "cr": good.replace(b"\n", b"\r"),
        "bom": BOM + good,
        "bom-crlf": BOM + good.replace(b"\n", b"\r\n"),
        "no final newline": good.rstrip(b"\n"),
        "blank lines": b"\n" + good.replace(b"\n", b"\n\n"),
    }


def _write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


# read_category_folder

CATEGORIES = {"Irish.txt": "Kelly\nO'Neal\n", "Spanish.txt": "Nuñez\nAbaroa\n"}


def _category_folder(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "names"
    folder.mkdir()
    for name, content in files.items():
        _write(folder, name, content)
    return folder


@pytest.mark.parametrize("variant", list(_variants(b"")))
def test_category_folder_reads_line_end_and_bom_variants(tmp_path: Path, variant: str) -> None:
    files = {name: _variants(text.encode())[variant] for name, text in CATEGORIES.items()}
    data = read_category_folder(_category_folder(tmp_path, files))
    assert data.categories == ["Irish", "Spanish"]
    assert list(data) == [("Kelly", 0), ("O'Neal", 0), ("Nuñez", 1), ("Abaroa", 1)]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"Nu\xf1ez\n", "line 1: not valid UTF-8"),  # latin-1
        (b"Kelly\nNu\xf1", "line 2: not valid UTF-8"),  # truncated inside a character
        (BINARY, "not valid UTF-8"),
        (b"", "holds no text"),
        (b"\r\n \n\t\n", "holds no text"),
        (BOM, "holds no text"),
    ],
    ids=["latin-1", "truncated", "binary", "empty", "blank", "bom only"],
)
def test_category_folder_with_a_damaged_file_names_it(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    folder = _category_folder(tmp_path, {"Irish.txt": b"Kelly\n", "Spanish.txt": content})
    with pytest.raises(ValueError, match=re.escape(str(folder / "Spanish.txt"))) as info:
        read_category_folder(folder)
    assert needle in str(info.value)


def test_category_folder_that_is_missing_empty_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing"))):
        read_category_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{empty} is empty")):
        read_category_folder(empty)
    file = _write(tmp_path, "Irish.txt", b"Kelly\n")
    with pytest.raises(ValueError, match=re.escape(f"got the file {file}")):
        read_category_folder(file)
    other = tmp_path / "other"
    other.mkdir()
    _write(other, "Irish.csv", b"Kelly\n")
    _write(other, "Irish.TXT", b"Kelly\n")
    with pytest.raises(ValueError, match=re.escape(f"no <category>.txt files in {other}")):
        read_category_folder(other)


# Kaggle TSV, SST trees, and read_sentiment_file telling them apart

KAGGLE = b"PhraseId\tSentenceId\tPhrase\tSentiment\n1\t1\tA good film .\t3\n2\t1\tgood\t3\n"
TREES = b"(3 (2 Good) (3 (3 fun) (2 .)))\n(1 (1 Dull) (2 .))\n"


@pytest.mark.parametrize("variant", list(_variants(b"")))
def test_kaggle_and_trees_read_line_end_and_bom_variants(tmp_path: Path, variant: str) -> None:
    tsv = _write(tmp_path, "train.tsv", _variants(KAGGLE)[variant])
    for data in (read_kaggle_tsv(tsv), read_sentiment_file(tsv)):
        assert (data.texts, data.labels) == (["A good film .", "good"], [3, 3])
    trees = _write(tmp_path, "dev.txt", _variants(TREES)[variant])
    sentences = read_sst_trees(trees)
    assert (sentences.texts, sentences.labels) == (["Good fun .", "Dull ."], [3, 1])
    assert read_sentiment_file(trees).sentences().texts == ["Good fun .", "Dull ."]


def test_a_header_alone_gives_an_empty_dataset(tmp_path: Path) -> None:
    tsv = _write(tmp_path, "test.tsv", b"PhraseId\tSentenceId\tPhrase\n")
    assert len(read_kaggle_tsv(tsv)) == 0 and read_kaggle_tsv(tsv).labels is None
    csv_file = _write(tmp_path, "reviews.csv", b"stars,review\r\n")
    data = read_delimited(csv_file, text_column="review", label_column="stars")
    assert (len(data), data.categories) == (0, [])


DAMAGED_KAGGLE = {
    "empty": (b"", "line 1: empty file"),
    "blank": (b"\n \r\n", "line 1: empty file"),
    "latin-1": (KAGGLE + b"3\t1\tcaf\xe9\t2\n", "line 4: not valid UTF-8"),
    "binary": (BINARY, "line 1: not valid UTF-8"),
    "truncated row": (KAGGLE[:-6], "line 3: expected 4 tab-separated columns, got 3"),
    "truncated header": (b"PhraseId\tSentenceId\tPhr", "missing Phrase"),
    "label 5": (KAGGLE + b"3\t1\tfilm\t5\n", "line 4: expected a Sentiment label 0-4, got '5'"),
    "label with space": (KAGGLE + b"3\t1\tfilm\t2 \n", "line 4: expected a Sentiment label"),
    "id not a number": (KAGGLE + b"x\t1\tfilm\t2\n", "line 4: expected an integer PhraseId"),
    "repeated id": (KAGGLE + b"2\t1\tfilm\t2\n", "line 4: PhraseId 2 repeats (first on line 3)"),
    "nul bytes": (b"\x00\x00\x00", "line 1:"),
}


@pytest.mark.parametrize("damage", DAMAGED_KAGGLE)
def test_kaggle_tsv_damaged_names_file_and_line(tmp_path: Path, damage: str) -> None:
    content, needle = DAMAGED_KAGGLE[damage]
    path = _write(tmp_path, "train.tsv", content)
    for read in (read_kaggle_tsv, read_sentiment_file):
        with pytest.raises(ValueError, match=re.escape(str(path))) as info:
            read(path)
        if read is read_kaggle_tsv or "empty" in needle or "UTF-8" in needle:
            assert needle in str(info.value)


DAMAGED_TREES = {
    "empty": (b"", "line 1: empty file"),
    "latin-1": (b"(3 (2 Caf\xe9) (2 .))\n", "line 1: not valid UTF-8"),
    "binary": (BINARY, "not valid UTF-8"),
    "truncated line": (TREES[:-8], "line 2: unbalanced brackets: 1 '(' not closed"),
    "truncated early": (TREES[:10], "line 1: unbalanced brackets: 2 '(' not closed"),
    "label 9": (b"(9 (2 a))\n", "line 1: expected a label 0-4 after '(', got '9'"),
    "empty node": (b"(3 ())\n", "line 1: expected a label 0-4"),
    "text after": (b"(3 (2 a)) b\n", "line 1: unexpected 'b' after the tree's end"),
    "closing too many": (b"(3 (2 a)))\n", "line 1: unbalanced brackets: ')' closes nothing"),
    "word and subtree": (b"(3 a (2 b))\n", "line 1: a node holds both a word and subtrees"),
}


@pytest.mark.parametrize("damage", DAMAGED_TREES)
def test_sst_trees_damaged_names_file_and_line(tmp_path: Path, damage: str) -> None:
    content, needle = DAMAGED_TREES[damage]
    path = _write(tmp_path, "dev.txt", content)
    with pytest.raises(ValueError, match=re.escape(str(path))) as info:
        read_sst_trees(path, phrases=True)
    assert needle in str(info.value)
    if content.startswith(b"("):
        with pytest.raises(ValueError, match=re.escape(f"{path}, line")):
            read_sentiment_file(path)


def test_sentiment_file_in_neither_format_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "reviews.csv", b"label,text\npos,Great\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 1: neither a Kaggle TSV")):
        read_sentiment_file(path)


def test_sentiment_readers_on_a_missing_file(tmp_path: Path) -> None:
    for read in (read_kaggle_tsv, read_sentiment_file, read_sst_trees):
        with pytest.raises(FileNotFoundError):
            read(tmp_path / "missing.tsv")


# read_delimited

CSV = b'label,text\npos,Great\nneg,"Dull, slow"\n'


@pytest.mark.parametrize("variant", [v for v in _variants(b"") if v != "cr"])
def test_delimited_reads_line_end_and_bom_variants(tmp_path: Path, variant: str) -> None:
    path = _write(tmp_path, "reviews.csv", _variants(CSV)[variant])
    data = read_delimited(path, text_column="text", label_column="label")
    assert (data.texts, data.labels, data.categories) == (
        ["Great", "Dull, slow"],
        [1, 0],
        ["neg", "pos"],
    )


DAMAGED_CSV = {
    "empty": (b"", "line 1: empty file"),
    "latin-1": (b"label,text\npos,caf\xe9\n", "line 2: not valid UTF-8"),
    "binary": (BINARY, "line 1: not valid UTF-8"),
    "truncated in quotes": (CSV[:-5], "line 3: malformed row"),
    "missing field": (b"label,text\npos\n", "line 2: expected 2 fields as in the header, got 1"),
    "empty label": (b"label,text\n ,Great\n", "line 2: empty label in column 'label'"),
    "missing column": (b"stars,text\n5,Great\n", "line 1: the label column 'label' is missing"),
    "repeated column": (b"label,text,text\npos,a,b\n", "the text column 'text' appears twice"),
}


@pytest.mark.parametrize("damage", DAMAGED_CSV)
def test_delimited_damaged_names_file_and_line(tmp_path: Path, damage: str) -> None:
    content, needle = DAMAGED_CSV[damage]
    path = _write(tmp_path, "reviews.csv", content)
    with pytest.raises(ValueError, match=re.escape(str(path))) as info:
        read_delimited(path, text_column="text", label_column="label")
    assert needle in str(info.value)


def test_delimited_bad_arguments(tmp_path: Path) -> None:
    path = _write(tmp_path, "reviews.dat", CSV)
    with pytest.raises(ValueError, match=re.escape(f"delimiter of {path}")):
        read_delimited(path, text_column="text", label_column="label")
    path = _write(tmp_path, "reviews.csv", CSV)
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: label 'neg' is not one")):
        read_delimited(path, text_column="text", label_column="label", categories=["pos"])
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "missing.csv"))):
        read_delimited(tmp_path / "missing.csv", text_column="text", label_column="label")


# load_names / verify_names on a damaged folder (synthetic digests stand for the real ones)

NAMES = {"Irish.txt": b"Kelly\nO'Neal\n", "Spanish.txt": "Nuñez\nAbaroa\n".encode()}


@pytest.fixture
def names_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    digests = {name: normalized_text_sha256(content) for name, content in NAMES.items()}
    monkeypatch.setattr(names_module, "NAMES_FILE_SHA256", digests)
    folder = tmp_path / "names"
    folder.mkdir()
    for name, content in NAMES.items():
        _write(folder, name, content)
    return folder


def test_load_names_reads_the_synthetic_folder(names_folder: Path) -> None:
    data = load_names(names_folder.parent)
    assert data.categories == ["Irish", "Spanish"] and len(data) == 4


@pytest.mark.parametrize("variant", ["crlf", "bom", "bom-crlf", "no final newline"])
def test_load_names_accepts_line_end_and_bom_variants(names_folder: Path, variant: str) -> None:
    for name, content in NAMES.items():
        _write(names_folder, name, _variants(content)[variant])
    assert len(load_names(names_folder.parent)) == 4


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda f: (f / "Irish.txt").unlink(), "missing files: Irish.txt"),
        (lambda f: _write(f, "Klingon.txt", b"Worf\n"), "unexpected files: Klingon.txt"),
        (lambda f: _write(f, "Spanish.txt", b"Nu\xf1ez\n"), "Spanish.txt: not valid UTF-8"),
        (lambda f: _write(f, "Spanish.txt", BINARY), "Spanish.txt: not valid UTF-8"),
        (lambda f: _write(f, "Irish.txt", b"Kelly\nO'Ne"), "Irish.txt: expected sha256"),
        (lambda f: _write(f, "Irish.txt", b""), "Irish.txt: expected sha256"),
    ],
    ids=["missing", "unexpected", "latin-1", "binary", "truncated", "empty"],
)
def test_load_names_on_a_damaged_folder_names_the_file(
    names_folder: Path, damage: Callable[[Path], object], needle: str
) -> None:
    damage(names_folder)
    for call in (lambda: verify_names(names_folder), lambda: load_names(names_folder.parent)):
        with pytest.raises(DataIntegrityError, match=re.escape(str(names_folder))) as info:
            call()
        assert needle in str(info.value)


def test_load_names_on_a_missing_folder_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "names"))):
        load_names(tmp_path)
    _write(tmp_path, "names", b"not a folder")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "names"))):
        load_names(tmp_path)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "names"))):
        verify_names(tmp_path / "names")


def test_load_names_on_a_verified_file_without_text_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    _write(folder, "Irish.txt", b"\n\n")
    monkeypatch.setattr(
        names_module, "NAMES_FILE_SHA256", {"Irish.txt": normalized_text_sha256(b"\n\n")}
    )
    with pytest.raises(ValueError, match=re.escape(f"{folder / 'Irish.txt'} holds no text")):
        load_names(tmp_path)


# load_sst on a damaged folder (small synthetic splits stand for the real ones)


@pytest.fixture
def sst_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sst_module, "SST_SENTENCE_COUNTS", {"train": 2, "dev": 2, "test": 2})
    monkeypatch.setattr(sst_module, "SST_FILE_SHA256", {"dev.txt": normalized_text_sha256(TREES)})
    folder = tmp_path / "sst"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        _write(folder, f"{split}.txt", TREES)
    return folder


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom", "bom-crlf", "no final newline"])
def test_load_sst_reads_line_end_and_bom_variants(sst_folder: Path, variant: str) -> None:
    _write(sst_folder, "dev.txt", _variants(TREES)[variant])
    assert load_sst("dev", sst_folder.parent).texts == ["Good fun .", "Dull ."]


@pytest.mark.parametrize(
    ("split", "content", "error", "needle"),
    [
        ("dev", b"(3 (2 Good) (3 (3 fun) (2 .)))\n", DataIntegrityError, "expected 2 sentences"),
        ("dev", b"", DataIntegrityError, "dev.txt: expected 2 sentences, got 0"),
        ("dev", b"(3 (2 Caf\xe9) (2 .))\n(2 a)\n", DataIntegrityError, "dev.txt: not valid UTF-8"),
        ("dev", BINARY, DataIntegrityError, "dev.txt: not valid UTF-8"),
        ("dev", b"(3 (2 Good) (3 fun))\n(1 (1 Dull) (2 .))\n", DataIntegrityError, "sha256"),
        ("test", b"(3 (2 Good) (3 fun)\n(1 (1 Dull) (2 .))\n", ValueError, "test.txt, line 1"),
        ("test", b"(3 (2 Good))\n(7 (1 Dull))\n", ValueError, "test.txt, line 2"),
    ],
    ids=["truncated", "empty", "latin-1", "binary", "digest", "unbalanced", "label 7"],
)
def test_load_sst_on_a_damaged_split_names_the_file(
    sst_folder: Path, split: str, content: bytes, error: type[Exception], needle: str
) -> None:
    _write(sst_folder, f"{split}.txt", content)
    with pytest.raises(error, match=re.escape(str(sst_folder))) as info:
        load_sst(split, sst_folder.parent)
    assert needle in str(info.value)


def test_load_sst_on_a_missing_file_or_a_bad_split(sst_folder: Path) -> None:
    (sst_folder / "train.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(sst_folder / "train.txt"))):
        load_sst("train", sst_folder.parent)
    assert len(load_sst("dev", sst_folder.parent)) == 2  # a split needs only its own file
    (sst_folder / "test.txt").unlink()
    (sst_folder / "test.txt").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(sst_folder / "test.txt"))):
        load_sst("test", sst_folder.parent)
    for split in ("valid", ["dev"], None):
        with pytest.raises(ValueError, match=re.escape(f"got {split!r}")):
            load_sst(split, sst_folder.parent)


# Batching

COLLATE_ERRORS = [
    (lambda: pad_sequences([]), ValueError, "empty list"),
    (lambda: pad_sequences([[1], [2, -1]]), ValueError, "ids >= 0 at position 1, got -1"),
    (lambda: pad_sequences([[1], [1.5]]), TypeError, "position 1, got torch.float32"),
    (lambda: pad_sequences([[True]]), TypeError, "position 0, got torch.bool"),
    (lambda: pad_sequences(["abc"]), TypeError, "position 0, got the str 'abc'"),
    (lambda: pad_sequences([[1], None]), TypeError, "position 1, got None"),
    (lambda: pad_sequences([[[1], [2, 3]]]), TypeError, "position 0"),
    (lambda: pad_sequences([[[1]]]), ValueError, "1-D sequence of token ids at position 0"),
    (lambda: pad_sequences([[1]], padding_value=0.5), TypeError, "padding_value must be an int"),
    (lambda: collate_classification([]), ValueError, "empty list"),
    (lambda: collate_classification([([1], 0), ([], 1)]), ValueError, "position 1"),
    (lambda: collate_classification([([1, -3], 0)]), ValueError, "ids >= 0 at position 0"),
    (lambda: collate_classification([([1], 1.5)]), TypeError, "int label at position 0, got 1.5"),
    (lambda: collate_classification([([1], "pos")]), TypeError, "int label at position 0"),
    (lambda: collate_classification([([1], -100)]), ValueError, "label >= 0 at position 0"),
    (lambda: collate_classification([([1], 0), [1, 2, 3]]), TypeError, "pair at position 1"),
    (lambda: collate_classification([("abc", 0)]), TypeError, "got the str 'abc'"),
    (lambda: collate_classification([([1], 0)], pad_id=0.5), TypeError, "pad_id must be an int"),
    (lambda: collate_next_token([], eos_id=3), ValueError, "empty list"),
    (lambda: collate_next_token([([], 0)], eos_id=3), ValueError, "pass bos_id"),
    (lambda: collate_next_token([([1, -100], 0)], eos_id=3), ValueError, "ids >= 0"),
    (lambda: collate_next_token([([1], 0)], eos_id=3.0), TypeError, "eos_id must be an int"),
    (lambda: collate_next_token([([1], 0)], eos_id=-1), ValueError, "eos_id must be >= 0"),
    (lambda: collate_next_token([([1], 0)], eos_id=None), TypeError, "eos_id must be an int"),
    (
        lambda: collate_next_token([([1], 0)], eos_id=3, bos_id=2.5),
        TypeError,
        "bos_id must be an int",
    ),
    (lambda: collate_next_token([([1], 0)], eos_id=3, pad_id=0.5), TypeError, "pad_id must be"),
    (lambda: collate_next_token([([1], 0.5)], eos_id=3), TypeError, "int category at position 0"),
    (lambda: collate_next_token([([1], -1)], eos_id=3), ValueError, "category >= 0 at position 0"),
]


@pytest.mark.parametrize(("call", "error", "needle"), COLLATE_ERRORS)
def test_collate_bad_examples(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()


def test_collate_with_empty_sequences_and_bos_pads_them() -> None:
    padded, lengths = pad_sequences([[], []])
    assert padded.shape == (2, 0) and lengths.tolist() == [0, 0]
    batch = collate_next_token([([], 1)], eos_id=3, bos_id=2)
    assert batch.inputs.tolist() == [[2]] and batch.targets.tolist() == [[3]]
    padded, _ = pad_sequences([torch.tensor([1, 2], dtype=torch.int32), [3]], padding_value=-1)
    assert padded.tolist() == [[1, 2], [3, -1]]  # padding may be any int


# stratified_split, LengthBucketSampler, ShardedBatchSampler

SPLIT_AND_SAMPLER_ERRORS = [
    (lambda: stratified_split([0, 1], 1.0), ValueError, "valid_fraction must be in [0, 1)"),
    (lambda: stratified_split([0, 1], -0.1), ValueError, "valid_fraction must be in [0, 1)"),
    (lambda: stratified_split([0, 1], float("nan")), ValueError, "got nan"),
    (lambda: stratified_split([0, 1], "0.2"), TypeError, "valid_fraction must be a real number"),
    (lambda: stratified_split([0, 1], None), TypeError, "valid_fraction must be a real number"),
    (lambda: stratified_split([], 0.2), ValueError, "empty sequence of labels"),
    (lambda: stratified_split([0, 1.5], 0.2), TypeError, "labels[1] must be an int, got 1.5"),
    (lambda: stratified_split("ab", 0.2), TypeError, "labels[0] must be an int"),
    (lambda: LengthBucketSampler([1, 2], 0), ValueError, "batch_size must be at least 1, got 0"),
    (lambda: LengthBucketSampler([1, 2], 2.5), TypeError, "batch_size must be an int, got 2.5"),
    (lambda: LengthBucketSampler([1, 2], True), TypeError, "batch_size must be an int"),
    (lambda: LengthBucketSampler([1, 2], "2"), TypeError, "batch_size must be an int"),
    (lambda: LengthBucketSampler([1, 2], 2, bucket_size=0), ValueError, "bucket_size must be"),
    (lambda: LengthBucketSampler([1, 2], 2, bucket_size=1.5), TypeError, "bucket_size must be"),
    (lambda: LengthBucketSampler([1, -2], 2), ValueError, "got -2 at index 1"),
    (lambda: LengthBucketSampler([1, 2.7], 2), TypeError, "lengths[1] must be an int, got 2.7"),
    (lambda: LengthBucketSampler("ab", 2), TypeError, "got the str 'ab'"),
    (
        lambda: LengthBucketSampler(torch.tensor([1.0, 2.0]), 2),
        TypeError,
        "lengths[0] must be an int",
    ),
    (lambda: ShardedBatchSampler([[0]], num_replicas=2, rank=2), ValueError, "rank must be in"),
    (lambda: ShardedBatchSampler([[0]], num_replicas=1.5, rank=0), TypeError, "num_replicas"),
]


@pytest.mark.parametrize(("call", "error", "needle"), SPLIT_AND_SAMPLER_ERRORS)
def test_split_and_sampler_bad_arguments(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()


def test_sampler_and_split_accept_integer_tensors_and_no_examples() -> None:
    sampler = LengthBucketSampler(torch.tensor([3, 1, 2]), 2, shuffle=False)
    assert list(sampler) == [[0, 2], [1]]
    assert list(LengthBucketSampler([], 2)) == [] and len(LengthBucketSampler([], 2)) == 0
    generator = torch.Generator().manual_seed(0)
    train, valid = stratified_split(torch.tensor([0, 0, 1, 1]), 0.5, generator=generator)
    assert sorted(train + valid) == [0, 1, 2, 3] and len(valid) == 2
