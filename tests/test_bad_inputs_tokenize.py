# mypy: disable-error-code="arg-type, list-item"
# (the calls below break the signatures on purpose)
"""Bad-input sweep, tokenizers: round trips over any text, out-of-alphabet policies, damaged
JSON and GloVe files (issue 7, point 3)."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn.tokenize import (
    ASCII_LETTERS_ALPHABET,
    CharTokenizer,
    GloVe,
    Vocabulary,
    WordTokenizer,
    fold_to_ascii,
)

SETTINGS = settings(max_examples=80, deadline=None)

LECTURE = CharTokenizer()
WITH_SPECIALS = CharTokenizer(bos=True, pad=True, unk=True, oov="unk")
DROPPING = CharTokenizer(oov="drop")
COMBINING_ACCENTS = "\u0300\u0301\u0302\u0303\u0308\u030a\u030c\u0327"  # grave ... cedilla
LOWERCASE_WORDS = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)


def _folds_into(tokenizer: CharTokenizer, char: str) -> bool:
    """Whether ``char`` folds (on its own) into characters of the alphabet."""
    return all(c in tokenizer.alphabet for c in fold_to_ascii(char))


# CharTokenizer: round trips over its alphabet


@SETTINGS
@given(text=st.text(alphabet=ASCII_LETTERS_ALPHABET))
def test_char_round_trip_over_the_lecture_alphabet(text: str) -> None:
    for tokenizer in (LECTURE, WITH_SPECIALS, DROPPING):
        ids = tokenizer.encode(text, add_eos=True)
        assert len(ids) == len(text) + 1 and ids[-1] == tokenizer.eos_id
        assert tokenizer.decode(ids) == text
    ids = WITH_SPECIALS.encode(text, add_bos=True, add_eos=True)
    assert WITH_SPECIALS.decode(ids) == text
    assert LECTURE.encode_one_hot(text).argmax(dim=1).tolist() == LECTURE.encode(text)


@SETTINGS
@given(texts=st.lists(st.text(alphabet=ASCII_LETTERS_ALPHABET), min_size=1, max_size=5))
def test_char_batch_round_trip(texts: list[str]) -> None:
    for tokenizer in (LECTURE, WITH_SPECIALS):
        tokens, lengths = tokenizer.encode_batch(texts, add_eos=True)
        assert tokens.shape == (len(texts), max(len(text) for text in texts) + 1)
        assert tokenizer.decode_batch(tokens, lengths) == texts


@SETTINGS
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(string.ascii_letters), st.sampled_from(["", *COMBINING_ACCENTS]))
    )
)
def test_char_folding_maps_accented_letters_to_their_base(pieces: list[tuple[str, str]]) -> None:
    plain = "".join(letter for letter, _ in pieces)
    accented = unicodedata.normalize("NFC", "".join(letter + mark for letter, mark in pieces))
    assert LECTURE.encode(accented) == LECTURE.encode(plain)
    assert LECTURE.decode(LECTURE.encode(accented)) == plain
    unfolded = CharTokenizer(fold_unicode=False, oov="drop")
    assert unfolded.decode(unfolded.encode(accented)) == "".join(
        c for c in accented if c in ASCII_LETTERS_ALPHABET
    )


# CharTokenizer: anything else, by the out-of-alphabet policy


@SETTINGS
@given(text=st.text())
def test_char_error_policy_names_the_first_outside_character(text: str) -> None:
    outside = [i for i, char in enumerate(text) if not _folds_into(LECTURE, char)]
    if not outside:
        assert LECTURE.decode(LECTURE.encode(text)) == "".join(map(fold_to_ascii, text))
        return
    first = outside[0]
    with pytest.raises(ValueError, match=re.escape(f"{text[first]!r} at position {first} ")):
        LECTURE.encode(text)


@SETTINGS
@given(text=st.text())
def test_char_drop_and_unk_policies_never_raise_and_agree(text: str) -> None:
    dropped = DROPPING.encode(text)
    assert all(0 <= i < len(DROPPING.alphabet) for i in dropped)
    kept = "".join(fold_to_ascii(c) for c in text if _folds_into(DROPPING, c))
    assert DROPPING.decode(dropped) == kept
    with_unk, unk_id = WITH_SPECIALS.encode(text), WITH_SPECIALS.unk_id
    assert unk_id is not None
    assert all(0 <= i < WITH_SPECIALS.vocab_size for i in with_unk)
    outside = sum(not _folds_into(WITH_SPECIALS, c) for c in text)
    assert with_unk.count(unk_id) == outside  # one UNK per outside character
    assert WITH_SPECIALS.decode(with_unk) == kept  # UNK is skipped as a special token


@SETTINGS
@given(ids=st.lists(st.integers(min_value=-5, max_value=LECTURE.vocab_size + 5), max_size=12))
def test_char_decode_of_out_of_range_ids_raises_naming_id_and_position(ids: list[int]) -> None:
    bad = [(p, i) for p, i in enumerate(ids) if not 0 <= i < LECTURE.vocab_size]
    if not bad:
        LECTURE.decode(ids)
        LECTURE.decode(torch.tensor(ids, dtype=torch.int64))
        return
    position, value = bad[0]
    with pytest.raises(ValueError, match=re.escape(f"id {value} at position {position} ")):
        LECTURE.decode(ids)
    with pytest.raises(ValueError, match=re.escape(f"id {value} at position {position} ")):
        LECTURE.decode(torch.tensor(ids, dtype=torch.int64))


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda: LECTURE.encode(b"abc"), TypeError, "got bytes"),
        (lambda: LECTURE.encode("ab", add_bos=True), ValueError, "add_bos=True"),
        (lambda: LECTURE.encode_batch("ab"), TypeError, "single str"),
        (lambda: LECTURE.encode_batch([]), ValueError, "empty batch"),
        (lambda: LECTURE.encode_batch(["ab", 3]), TypeError, "texts[1]"),
        (lambda: LECTURE.encode_batch(["ab", "a\u00df"]), ValueError, "texts[1]"),
        (lambda: LECTURE.decode([1.5]), TypeError, "1.5 at position 0"),
        (lambda: LECTURE.decode(torch.tensor([1.0])), TypeError, "torch.float32"),
        (lambda: LECTURE.decode(torch.zeros(2, 2, dtype=torch.long)), ValueError, "1-D"),
        (lambda: LECTURE.decode_batch([[0], [99]]), ValueError, "row 1: id 99 at position 0"),
        (lambda: LECTURE.decode_batch([[0, 1]], [3]), ValueError, "row 0: length 3"),
        (lambda: LECTURE.decode_batch([[0, 1]], [1, 1]), ValueError, "expected 1 lengths"),
        (lambda: LECTURE.id_to_token(59), ValueError, "id 59 is out of range"),
        (lambda: LECTURE.id_to_token(-1), ValueError, "id -1 is out of range"),
        (lambda: LECTURE.id_to_token(1.0), TypeError, "id must be an int, got 1.0"),
        (lambda: LECTURE.id_to_token(True), TypeError, "id must be an int, got True"),
        (lambda: LECTURE.token_to_id("<bos>"), ValueError, "'<bos>' is not in the vocabulary"),
        (lambda: CharTokenizer(oov="skip"), ValueError, "oov must be one of"),
        (lambda: CharTokenizer(oov="unk"), ValueError, "unk=True"),
        (lambda: CharTokenizer("aba"), ValueError, "duplicate character 'a'"),
        (lambda: CharTokenizer(""), ValueError, "alphabet is empty"),
        (lambda: CharTokenizer(["ab"]), ValueError, "alphabet item 0 is 'ab'"),
        (lambda: CharTokenizer("\u00e9"), ValueError, "folds to 'e'"),
        (lambda: CharTokenizer(bos=1), TypeError, "bos must be a bool"),
    ],
)
def test_char_tokenizer_bad_arguments(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()


# Vocabulary and WordTokenizer


@SETTINGS
@given(data=st.data(), words=st.lists(LOWERCASE_WORDS, min_size=1, max_size=10, unique=True))
def test_word_round_trip_and_oov_to_unk(data: st.DataObject, words: list[str]) -> None:
    vocabulary = Vocabulary(words)
    tokenizer = WordTokenizer(vocabulary)
    chosen = data.draw(st.lists(st.sampled_from(words), max_size=8))
    text = " ".join(chosen)
    ids = tokenizer.encode(text.upper())  # lowercased before lookup
    assert ids == [vocabulary.token_to_id(word) for word in chosen]
    assert tokenizer.decode(ids) == text
    assert vocabulary.decode(vocabulary.encode(chosen)) == chosen
    unknown = data.draw(LOWERCASE_WORDS.filter(lambda word: word not in words))
    mixed = [*chosen, unknown]
    assert tokenizer.encode(" ".join(mixed))[-1] == vocabulary.unk_id
    assert tokenizer.decode(tokenizer.encode(" ".join(mixed))) == text  # UNK is skipped
    strict = Vocabulary(words, unk=None)
    with pytest.raises(ValueError, match=re.escape(f"{unknown!r} at position {len(chosen)} ")):
        strict.encode(mixed)


@SETTINGS
@given(ids=st.lists(st.integers(min_value=-3, max_value=9), max_size=10))
def test_word_decode_of_out_of_range_ids_raises(ids: list[int]) -> None:
    vocabulary = Vocabulary(["a", "b", "c"])  # 5 ids
    tokenizer = WordTokenizer(vocabulary)
    bad = [(p, i) for p, i in enumerate(ids) if not 0 <= i < 5]
    if not bad:
        assert len(vocabulary.decode(ids)) == len(ids)
        tokenizer.decode(ids)
        return
    position, value = bad[0]
    for decode in (vocabulary.decode, tokenizer.decode):
        with pytest.raises(ValueError, match=re.escape(f"id {value} at position {position} ")):
            decode(ids)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda: Vocabulary("abc"), TypeError, "single str"),
        (lambda: Vocabulary(["a", ""]), ValueError, "word 1 is empty"),
        (lambda: Vocabulary(["a", "a"]), ValueError, "word 1, 'a', is a repeat"),
        (lambda: Vocabulary(["<unk>"]), ValueError, "is a special token"),
        (lambda: Vocabulary(["a", 3]), TypeError, "word 1 is a int"),
        (lambda: Vocabulary([], pad="x", unk="x"), ValueError, "pad and unk must differ"),
        (lambda: Vocabulary.from_corpus([["a"]], min_freq=0), ValueError, "min_freq"),
        (lambda: Vocabulary.from_corpus([["a"]], max_size=1), ValueError, "max_size"),
        (lambda: Vocabulary.from_corpus(["ab"]), TypeError, "text 0 is a str"),
        (lambda: Vocabulary(["a"]).encode("a"), TypeError, "single str"),
        (lambda: Vocabulary(["a"]).id_to_token(2.0), TypeError, "id must be an int"),
        (lambda: Vocabulary(["a"]).id_to_token(3), ValueError, "id 3 is out of range"),
        (lambda: WordTokenizer(["a"]), TypeError, "expected a Vocabulary"),
        (lambda: WordTokenizer(Vocabulary([]), split="regex"), TypeError, "split must be"),
        (lambda: WordTokenizer(Vocabulary([])).encode_batch([]), ValueError, "empty batch"),
        (
            lambda: WordTokenizer(Vocabulary([], pad=None)).encode_batch(["a"]),
            ValueError,
            "has none",
        ),
        (lambda: WordTokenizer(Vocabulary([])).tokenize(None), TypeError, "NoneType"),
    ],
)
def test_word_bad_arguments(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()


# Loading tokenizers from damaged JSON files

SAVED: dict[str, tuple[Any, Callable[[Path], object]]] = {
    "char": (CharTokenizer(bos=True), CharTokenizer.load),
    "vocabulary": (Vocabulary(["a", "é"]), Vocabulary.load),
    "word": (WordTokenizer(Vocabulary(["a", "b"])), WordTokenizer.load),
}


def _damaged_json(good: bytes) -> dict[str, bytes]:
    return {
        "empty": b"",
        "whitespace": b"  \r\n",
        "truncated": good[: len(good) // 2],
        "binary": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
        "latin-1": b'{"format": "caf\xe9"}',
        "bom": b"\xef\xbb\xbf" + good,  # JSON must not start with a BOM: refused, named
        "a list": b"[1, 2]",
        "null": b"null",
        "a number": b"3",
    }


@pytest.mark.parametrize("kind", SAVED)
@pytest.mark.parametrize("damage", list(_damaged_json(b"{}")))
def test_tokenizer_load_of_a_damaged_file_names_the_file(
    tmp_path: Path, kind: str, damage: str
) -> None:
    saved, load = SAVED[kind]
    good_path = tmp_path / "good.json"
    saved.save(good_path)
    path = tmp_path / f"{damage}.json"
    path.write_bytes(_damaged_json(good_path.read_bytes())[damage])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load(path)


@pytest.mark.parametrize("kind", SAVED)
def test_tokenizer_load_of_a_crlf_file_loads_it(tmp_path: Path, kind: str) -> None:
    saved, load = SAVED[kind]
    path = tmp_path / "tok.json"
    saved.save(path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert load(path) == saved


WRONG_VALUES: list[object] = [None, 3, 1.5, True, "x", [], {}]


@pytest.mark.parametrize("kind", SAVED)
def test_tokenizer_load_of_wrong_field_types_names_file_and_field(
    tmp_path: Path, kind: str
) -> None:
    saved, load = SAVED[kind]
    fields = saved.to_dict()
    path = tmp_path / "tok.json"
    for name in fields:
        for wrong in WRONG_VALUES:
            if wrong == fields[name] and type(wrong) is type(fields[name]):
                continue
            path.write_text(json.dumps({**fields, name: wrong}), encoding="utf-8")
            try:
                loaded = load(path)
            except ValueError as error:
                assert str(path) in str(error), (name, wrong, error)
            else:  # another valid value of the field, such as pad=None
                assert loaded != saved, (name, wrong)
        missing = {key: value for key, value in fields.items() if key != name}
        path.write_text(json.dumps(missing), encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(str(path))):
            load(path)
    path.write_text(json.dumps({**fields, "extra": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown field"):
        load(path)


@pytest.mark.parametrize("kind", SAVED)
def test_tokenizer_load_of_a_missing_file_raises_file_not_found(tmp_path: Path, kind: str) -> None:
    _, load = SAVED[kind]
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.json")


# GloVe text files

GLOVE = b"the 0.5 -1\nnew york 2 0.25\ncat 3 3\n"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (GLOVE, ["the", "new york", "cat"]),
        (GLOVE.replace(b"\n", b"\r\n"), ["the", "new york", "cat"]),
        (b"\xef\xbb\xbf" + GLOVE, ["the", "new york", "cat"]),  # the BOM is not in the word
        (GLOVE.rstrip(b"\n"), ["the", "new york", "cat"]),  # no final line end
    ],
    ids=["plain", "crlf", "bom", "no final newline"],
)
def test_glove_from_text_loads_line_end_and_bom_variants(
    tmp_path: Path, content: bytes, words: list[str]
) -> None:
    path = tmp_path / "glove.txt"
    path.write_bytes(content)
    vectors = GloVe.from_text(path)
    assert list(vectors.words) == words
    assert vectors.lookup(["the", "cat"]).tolist() == [[0.5, -1.0], [3.0, 3.0]]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "the file is empty"),
        (b"the 0.5 -1\ncat 3", "line 2: expected a word and 2 values"),
        (b"the 0.5 -1\ncaf\xe9 3 3\n", "line 2: not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff", "line 1: not valid UTF-8"),
        (b"\x1f\x8b\x08\x00\x00\x00", "line 1: not valid UTF-8"),  # a gzip file
        (b"the 0.5 -1\n\ncat 3 3\n", "line 2: expected 'word v1 v2 ... vD'"),
        (b"the 0.5 -1\ncat 3 x\n", "line 2: value 'x' is not a number"),
        (b"the nan 1\n", "line 1: value 'nan' is not a finite number"),
        (b"the\t0.5\t-1\n", "line 1: expected 'word v1 v2 ... vD'"),
        (b"2 2\nthe 0.5 -1\n", "line 1: '2 2' looks like a word2vec header"),
        (b"the 0.5 -1\rcat 3 3\r", "line 1: value '-1\\rcat' is not a number"),  # old Mac ends
        (b"\x00\x00\x00", "line 1: expected 'word v1 v2 ... vD'"),
    ],
    ids=[
        "empty",
        "truncated",
        "latin-1",
        "binary",
        "gzip",
        "blank line",
        "bad value",
        "nan",
        "tabs",
        "word2vec header",
        "cr line ends",
        "nul bytes",
    ],
)
def test_glove_from_text_of_a_damaged_file_names_the_file(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "glove.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(f"{path}")) as info:
        GloVe.from_text(path)
    assert needle in str(info.value)


def test_glove_from_text_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        GloVe.from_text(tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda: GloVe("ab", torch.zeros(2, 1)), TypeError, "single str"),
        (lambda: GloVe(["a", "a"], torch.zeros(2, 1)), ValueError, "'a' appears twice"),
        (lambda: GloVe(["a"], torch.zeros(2, 1)), ValueError, "one row per word"),
        (lambda: GloVe(["a"], torch.zeros(1, dtype=torch.long)), TypeError, "floating point"),
        (lambda: GloVe(["a"], torch.zeros(1, 0)), ValueError, "D >= 1"),
        (lambda: GloVe(["a"], torch.ones(1, 2)).nearest("a", k=0), ValueError, "k must be"),
        (lambda: GloVe(["a"], torch.ones(1, 2)).nearest(torch.ones(3)), ValueError, "(2,)"),
        (lambda: GloVe(["a"], torch.ones(1, 2)).nearest(torch.zeros(2)), ValueError, "non-zero"),
        (lambda: GloVe(["a"], torch.ones(1, 2)).lookup(["a", "b"]), KeyError, "'b'"),
        (lambda: GloVe(["a"], torch.ones(1, 2)).lookup("a"), TypeError, "single str"),
        (lambda: GloVe([], torch.zeros(0, 2)).mean(), ValueError, "no vectors"),
    ],
)
def test_glove_bad_arguments(
    call: Callable[[], object], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error, match=re.escape(needle)):
        call()
