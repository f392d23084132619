"""Tests for seqlearn.tokenize.vocab and seqlearn.tokenize.word: vocabularies and words."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn.tokenize import (
    GloVe,
    RegexSplitter,
    Vocabulary,
    WhitespaceSplitter,
    WordTokenizer,
)

WORDS = ["the", "cat", "sat", "on", "mat", "é", "n't"]
words_lists = st.lists(st.sampled_from(WORDS), max_size=12)


# Vocabulary: layout ---------------------------------------------------------------------------


def test_pad_is_0_and_unk_is_1_then_the_words_in_order() -> None:
    vocab = Vocabulary(["the", "cat"])
    assert vocab.tokens == ("<pad>", "<unk>", "the", "cat")
    assert vocab.words == ("the", "cat") and vocab.num_special == 2
    assert (vocab.pad_id, vocab.unk_id, len(vocab)) == (0, 1, 4)
    assert [vocab.token_to_id(t) for t in vocab.tokens] == [0, 1, 2, 3]
    assert [vocab.id_to_token(i) for i in range(4)] == list(vocab.tokens) == list(vocab)
    assert "cat" in vocab and "<pad>" in vocab and "dog" not in vocab and 3 not in vocab


def test_optional_and_custom_special_tokens() -> None:
    assert Vocabulary(["a"], pad=None).tokens == ("<unk>", "a")
    assert Vocabulary(["a"], pad=None).unk_id == 0
    assert Vocabulary(["a"], unk=None).tokens == ("<pad>", "a")
    bare = Vocabulary(["a"], pad=None, unk=None)
    assert bare.tokens == ("a",) and bare.pad_id is None and bare.unk_id is None
    assert Vocabulary(["a"], pad="[PAD]", unk="[UNK]").tokens == ("[PAD]", "[UNK]", "a")


def test_vocabulary_checks_its_words() -> None:
    with pytest.raises(ValueError, match="word 2, 'a', is a repeat"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="word 0, '<unk>', is a special token"):
        Vocabulary(["<unk>"])
    with pytest.raises(ValueError, match="word 1 is empty"):
        Vocabulary(["a", ""])
    with pytest.raises(TypeError, match="word 0 is a int"):
        Vocabulary([1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single str"):
        Vocabulary("abc")
    with pytest.raises(ValueError, match="pad and unk must differ"):
        Vocabulary([], pad="x", unk="x")
    with pytest.raises(ValueError, match="non-empty"):
        Vocabulary([], pad="")
    with pytest.raises(TypeError, match="unk must be a str or None"):
        Vocabulary([], unk=1)  # type: ignore[arg-type]


def test_token_to_id_and_id_to_token_errors() -> None:
    vocab = Vocabulary(["a"])
    with pytest.raises(ValueError, match="token 'b' is not in the vocabulary"):
        vocab.token_to_id("b")
    with pytest.raises(ValueError, match="id 3 is out of range"):
        vocab.id_to_token(3)
    with pytest.raises(ValueError, match="id -1 is out of range"):
        vocab.id_to_token(-1)


# Vocabulary: from a corpus ------------------------------------------------------------------


def test_from_corpus_orders_by_frequency_then_token() -> None:
    corpus = [["b", "a", "c", "b"], ["d", "a", "b", "e"], ["c"], []]
    # counts: b 3, a 2, c 2, d 1, e 1
    assert Vocabulary.from_corpus(corpus).words == ("b", "a", "c", "d", "e")
    assert Vocabulary.from_corpus(corpus, min_freq=2).words == ("b", "a", "c")
    assert Vocabulary.from_corpus(corpus, max_size=4).tokens == ("<pad>", "<unk>", "b", "a")
    assert Vocabulary.from_corpus(corpus, max_size=2).words == ()
    assert Vocabulary.from_corpus(corpus, max_size=2, pad=None, unk=None).words == ("b", "a")
    assert Vocabulary.from_corpus(iter(corpus)) == Vocabulary.from_corpus(reversed(corpus))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=8), max_size=8))
def test_from_corpus_matches_a_counter(corpus: list[list[str]]) -> None:
    counts = Counter(token for text in corpus for token in text)
    expected = sorted(counts, key=lambda token: (-counts[token], token))
    assert Vocabulary.from_corpus(corpus).words == tuple(expected)


def test_from_corpus_leaves_special_strings_out_and_checks_arguments() -> None:
    assert Vocabulary.from_corpus([["<unk>", "a", "<pad>", "<pad>"]]).words == ("a",)
    with pytest.raises(ValueError, match="min_freq must be a positive int"):
        Vocabulary.from_corpus([], min_freq=0)
    with pytest.raises(ValueError, match="max_size must be an int of at least 2"):
        Vocabulary.from_corpus([], max_size=1)
    with pytest.raises(TypeError, match="text 1 is a str"):
        Vocabulary.from_corpus([["a"], "bc"])
    with pytest.raises(TypeError, match="expected tokens that are str, got 3"):
        Vocabulary.from_corpus([["a", 3]])  # type: ignore[list-item]


def test_vocabulary_from_glove_words() -> None:
    vectors = GloVe(["the", ",", "of"], torch.zeros(3, 2))
    assert Vocabulary(vectors.words).words == ("the", ",", "of")


# Vocabulary: encoding and files ---------------------------------------------------------------


def test_encode_maps_unknown_tokens_to_unk_and_decode_inverts() -> None:
    vocab = Vocabulary(["a", "b"])
    assert vocab.encode(["b", "x", "a"]) == [3, 1, 2]
    assert vocab.decode([3, 1, 2, 0]) == ["b", "<unk>", "a", "<pad>"]
    assert vocab.decode(torch.tensor([2, 3])) == ["a", "b"]
    with pytest.raises(ValueError, match="token 'x' at position 1 is not in the vocabulary"):
        Vocabulary(["a"], unk=None).encode(["a", "x"])
    with pytest.raises(TypeError, match="single str"):
        vocab.encode("ab")
    with pytest.raises(TypeError, match="token 1 is a int"):
        vocab.encode(["a", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="id 4 at position 1 is out of range"):
        vocab.decode([0, 4])
    with pytest.raises(TypeError, match="integer"):
        vocab.decode([0.5])  # type: ignore[list-item]


@settings(max_examples=50, deadline=None)
@given(words_lists)
def test_vocabulary_round_trip(tokens: list[str]) -> None:
    vocab = Vocabulary(WORDS)
    assert vocab.decode(vocab.encode(tokens)) == tokens


@pytest.mark.parametrize(
    "vocab",
    [
        Vocabulary(["the", "é", "日本", '"quoted"']),
        Vocabulary(["a"], pad=None),
        Vocabulary([], unk=None),
        Vocabulary(["x"], pad="[PAD]", unk="[UNK]"),
    ],
)
def test_vocabulary_json_round_trip(tmp_path: Path, vocab: Vocabulary) -> None:
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded == vocab and hash(loaded) == hash(vocab)
    assert loaded.tokens == vocab.tokens
    assert json.loads(path.read_text(encoding="utf-8")) == vocab.to_dict()


def test_vocabulary_from_dict_names_bad_fields(tmp_path: Path) -> None:
    good = Vocabulary(["a"]).to_dict()
    cases = [
        ({**good, "format": "other"}, "field 'format' is 'other'"),
        ({**good, "version": 2}, "field 'version' is 2"),
        ({**good, "extra": 1}, "unknown field(s) ['extra']"),
        ({k: v for k, v in good.items() if k != "pad"}, "missing field 'pad'"),
        ({**good, "unk": 5}, "field 'unk' must be a str or null"),
        ({**good, "words": "a"}, "field 'words' must be a list"),
        ({**good, "words": ["a", "a"]}, "'a', is a repeat"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            Vocabulary.from_dict(data)
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=str(path)):
        Vocabulary.load(path)


def test_vocabulary_repr() -> None:
    assert repr(Vocabulary(["a"], unk=None)) == "Vocabulary(['a'], pad='<pad>', unk=None)"
    assert repr(Vocabulary("abcdefg"[i] for i in range(7))).startswith(
        "Vocabulary(['a', 'b', 'c', 'd', 'e', ...]"
    )


# Splitters ----------------------------------------------------------------------------------


def test_whitespace_splitter() -> None:
    split = WhitespaceSplitter()
    assert split(" a  b\tc\n") == ["a", "b", "c"] and split("") == []
    assert split == WhitespaceSplitter() and hash(split) == hash(WhitespaceSplitter())


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("don't stop", ["do", "n't", "stop"]),
        ("can't, won't", ["ca", "n't", ",", "wo", "n't"]),
        ("it's we're i'll", ["it", "'s", "we", "'re", "i", "'ll"]),
        ("e-mail costs 3.50 in the u.s.", ["e-mail", "costs", "3.50", "in", "the", "u.s."]),
        ("(hello) 'world'", ["(", "hello", ")", "'", "world", "'"]),
        ("DON'T", ["DO", "N'T"]),
        ("café naïve", ["café", "naïve"]),
        ("", []),
    ],
)
def test_regex_splitter_default_pattern(text: str, tokens: list[str]) -> None:
    assert RegexSplitter()(text) == tokens


def test_regex_splitter_custom_pattern() -> None:
    assert RegexSplitter(r"[a-z]+")("ab, cd!") == ["ab", "cd"]
    assert RegexSplitter(r"(a)|b")("ab") == ["a", "b"]  # whole matches, not groups
    assert RegexSplitter(r"a*")("baab") == ["aa"]  # empty matches dropped
    assert RegexSplitter(r"\w+").pattern == r"\w+"
    assert RegexSplitter("x") == RegexSplitter("x") != RegexSplitter("y")
    assert repr(RegexSplitter("x")) == "RegexSplitter('x')"
    with pytest.raises(ValueError, match="not a valid regular expression"):
        RegexSplitter("(")


# WordTokenizer ------------------------------------------------------------------------------


def test_tokenize_lowercases_by_default() -> None:
    tok = WordTokenizer(Vocabulary(WORDS))
    assert tok.tokenize("The CAT  sat") == ["the", "cat", "sat"]
    assert WordTokenizer(Vocabulary(WORDS), lowercase=False).tokenize("The") == ["The"]
    assert tok.encode("The dog SAT") == [2, 1, 4]
    assert tok.vocab_size == len(tok) == len(WORDS) + 2
    assert (tok.pad_id, tok.unk_id) == (0, 1)
    with pytest.raises(TypeError, match="expected a str"):
        tok.tokenize(["a"])  # type: ignore[arg-type]


def test_tokenize_with_any_callable() -> None:
    tok = WordTokenizer(Vocabulary(["a", "b"]), split=lambda text: text.split(","))
    assert tok.encode("A,b,c") == [2, 3, 1]
    with pytest.raises(TypeError, match="the splitter gave a int at 1"):
        WordTokenizer(Vocabulary([]), split=lambda text: ["a", 1]).tokenize("x")  # type: ignore[list-item, return-value]
    with pytest.raises(TypeError, match="split must be a callable"):
        WordTokenizer(Vocabulary([]), split="whitespace")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a Vocabulary"):
        WordTokenizer(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lowercase must be a bool"):
        WordTokenizer(Vocabulary([]), lowercase=1)  # type: ignore[arg-type]


def test_encode_batch_pads_with_pad_and_gives_lengths() -> None:
    tok = WordTokenizer(Vocabulary(["a", "b"]))
    tokens, lengths = tok.encode_batch(["a b a", "", "b x"])
    assert tokens.dtype == lengths.dtype == torch.int64
    assert tokens.tolist() == [[2, 3, 2], [0, 0, 0], [3, 1, 0]]
    assert lengths.tolist() == [3, 0, 2]
    tokens, lengths = tok.encode_batch([""])
    assert tokens.shape == (1, 0) and lengths.tolist() == [0]
    with pytest.raises(ValueError, match="empty batch"):
        tok.encode_batch([])
    with pytest.raises(TypeError, match="single str"):
        tok.encode_batch("a b")
    with pytest.raises(TypeError, match=r"texts\[1\]: expected a str"):
        tok.encode_batch(["a", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="the vocabulary has none"):
        WordTokenizer(Vocabulary(["a"], pad=None)).encode_batch(["a"])
    with pytest.raises(ValueError, match=r"texts\[1\]: token 'x'"):
        WordTokenizer(Vocabulary(["a"], unk=None)).encode_batch(["a", "x"])


def test_decode_skips_special_tokens_unless_asked() -> None:
    tok = WordTokenizer(Vocabulary(["a", "b"]))
    assert tok.decode([3, 1, 2, 0, 0]) == "b a"
    assert tok.decode([3, 1, 2, 0], skip_special=False) == "b <unk> a <pad>"
    assert tok.decode(torch.tensor([2, 3])) == "a b"
    assert tok.decode([]) == ""
    with pytest.raises(ValueError, match="id 9 at position 0 is out of range"):
        tok.decode([9])
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(torch.zeros(1, 1, dtype=torch.int64))


def test_decode_batch_is_the_inverse_of_encode_batch() -> None:
    tok = WordTokenizer(Vocabulary(["a", "b"]))
    texts = ["a b a", "", "b"]
    assert tok.decode_batch(*tok.encode_batch(texts)) == texts
    assert tok.decode_batch([[2, 3], [3]], [1, 1]) == ["a", "b"]
    with pytest.raises(ValueError, match="expected 2 lengths"):
        tok.decode_batch([[2], [3]], [1])
    with pytest.raises(ValueError, match=r"row 1: length 2 is out of range \[0, 1\]"):
        tok.decode_batch([[2], [3]], [1, 2])
    with pytest.raises(ValueError, match="2-D"):
        tok.decode_batch(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="row 0: id 7"):
        tok.decode_batch([[7]])


@settings(max_examples=50, deadline=None)
@given(st.lists(words_lists, min_size=1, max_size=5))
def test_encode_decode_round_trip_of_known_tokens(texts_tokens: list[list[str]]) -> None:
    tok = WordTokenizer(Vocabulary(WORDS))
    texts = [" ".join(tokens) for tokens in texts_tokens]
    for text, tokens in zip(texts, texts_tokens):
        ids = tok.encode(text)
        assert len(ids) == len(tokens) and tok.vocabulary.unk_id not in ids
        assert tok.decode(ids) == text
    tokens, lengths = tok.encode_batch(texts)
    assert lengths.tolist() == [len(t) for t in texts_tokens]
    assert tok.decode_batch(tokens, lengths) == texts


def test_from_texts_builds_the_vocabulary_as_it_tokenizes() -> None:
    texts = ["The cat sat.", "the CAT!", "a dog"]
    tok = WordTokenizer.from_texts(texts, split=RegexSplitter(), min_freq=2)
    assert tok.vocabulary.words == ("cat", "the")
    assert tok.split == RegexSplitter() and tok.lowercase
    assert tok.encode("THE dog") == [3, 1]
    cased = WordTokenizer.from_texts(texts, lowercase=False)
    assert "The" in cased.vocabulary and "cat" in cased.vocabulary
    with pytest.raises(TypeError, match="single str"):
        WordTokenizer.from_texts("abc")


@pytest.mark.parametrize(
    "tok",
    [
        WordTokenizer(Vocabulary(["the", "é"])),
        WordTokenizer(Vocabulary(["a"], pad=None), lowercase=False, split=RegexSplitter()),
        WordTokenizer(Vocabulary(["a"]), split=RegexSplitter(r"[^,]+")),
    ],
)
def test_tokenizer_json_round_trip(tmp_path: Path, tok: WordTokenizer) -> None:
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = WordTokenizer.load(path)
    assert loaded == tok and hash(loaded) == hash(tok)
    assert loaded.vocabulary == tok.vocabulary and loaded.split == tok.split
    for text in ("The é a", "a,b", "x y"):
        assert loaded.encode(text) == tok.encode(text)
    assert repr(loaded) == repr(tok)


def test_a_custom_splitter_cannot_be_saved(tmp_path: Path) -> None:
    tok = WordTokenizer(Vocabulary(["a"]), split=str.split)
    path = tmp_path / "tok.json"
    with pytest.raises(TypeError, match="only WhitespaceSplitter and RegexSplitter can be saved"):
        tok.save(path)
    assert not path.exists()
    with pytest.raises(TypeError, match="cannot write"):
        tok.to_dict()


def test_tokenizer_from_dict_names_bad_fields(tmp_path: Path) -> None:
    good = WordTokenizer(Vocabulary(["a"])).to_dict()
    cases = [
        ({**good, "split": {"kind": "bpe"}}, "field 'split' must be"),
        ({**good, "split": {"kind": "regex"}}, "field 'split' must be"),
        ({**good, "split": {"kind": "regex", "pattern": "("}}, "field 'split': pattern"),
        ({**good, "lowercase": "yes"}, "field 'lowercase' must be a bool"),
        ({**good, "vocabulary": {"format": "x"}}, "field 'vocabulary': field 'format'"),
        ({**good, "format": "seqlearn.Vocabulary"}, "field 'format'"),
        ({**good, "more": 1}, "unknown field"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message):
            WordTokenizer.from_dict(data)
    path = tmp_path / "tok.json"
    path.write_text(json.dumps({**good, "version": 9}), encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}: field 'version' is 9"):
        WordTokenizer.load(path)
