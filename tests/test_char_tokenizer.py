"""Tests for seqlearn.tokenize.char and seqlearn.tokenize.fold, checked against the lecture."""

from __future__ import annotations

import json
import string
import unicodedata
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from seqlearn.tokenize.char import ASCII_LETTERS_ALPHABET, CharTokenizer
from seqlearn.tokenize.fold import fold_to_ascii

# The lecture's code, written out plainly as the reference.
all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # plus EOS


def unicode_to_ascii(s: str) -> str:
    return "".join(
        c
        for c in unicodedata.normalize("NFD", s)
        if unicodedata.category(c) != "Mn" and c in all_letters
    )


def input_to_onehot(line: str) -> torch.Tensor:
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        tensor[li][0][all_letters.find(line[li])] = 1
    return tensor


def target_to_indices(line: str) -> torch.Tensor:
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)
    return torch.LongTensor(letter_indexes)


alphabet_texts = st.text(alphabet=ASCII_LETTERS_ALPHABET, max_size=30)


# Layout ------------------------------------------------------------------------------------


def test_default_layout_is_the_lectures() -> None:
    tok = CharTokenizer()
    assert all_letters == ASCII_LETTERS_ALPHABET
    assert tok.alphabet == all_letters
    assert len(tok) == tok.vocab_size == n_letters == 59
    assert tok.eos_id == 58
    assert tok.bos_id is None and tok.pad_id is None and tok.unk_id is None
    for c in all_letters:
        assert tok.token_to_id(c) == all_letters.find(c)
        assert tok.encode(c) == [all_letters.find(c)]
        assert tok.id_to_token(all_letters.find(c)) == c
    assert tok.id_to_token(58) == "<eos>"


@pytest.mark.parametrize("line", ["Nunez", "O'Neal", "Smith-Jones", "a", ""])
def test_one_hot_matches_lectures_input_to_onehot(line: str) -> None:
    one_hot = CharTokenizer().encode_one_hot(line)
    assert one_hot.dtype == torch.float32
    assert one_hot.shape == (len(line), 59)
    torch.testing.assert_close(one_hot, input_to_onehot(line).squeeze(1), rtol=0, atol=0)


def test_targets_match_lectures_target_to_indices() -> None:
    line = "Kowalski"
    assert CharTokenizer().encode(line[1:], add_eos=True) == target_to_indices(line).tolist()


def test_one_hot_with_specials() -> None:
    tok = CharTokenizer("ab", bos=True)
    expected = torch.eye(4)[[3, 1, 2]]
    torch.testing.assert_close(tok.encode_one_hot("b", add_bos=True, add_eos=True), expected)


@pytest.mark.parametrize(
    ("flags", "ids"),
    [
        ({"bos": True}, (59, None, None)),
        ({"pad": True}, (None, 59, None)),
        ({"unk": True}, (None, None, 59)),
        ({"bos": True, "unk": True}, (59, None, 60)),
        ({"pad": True, "unk": True}, (None, 59, 60)),
        ({"bos": True, "pad": True, "unk": True}, (59, 60, 61)),
    ],
)
def test_optional_specials_follow_eos_in_order(
    flags: dict[str, bool], ids: tuple[int | None, int | None, int | None]
) -> None:
    tok = CharTokenizer(
        bos=flags.get("bos", False), pad=flags.get("pad", False), unk=flags.get("unk", False)
    )
    assert (tok.bos_id, tok.pad_id, tok.unk_id) == ids
    assert tok.eos_id == 58
    assert len(tok) == 59 + sum(flags.values())
    for token, i in zip(("<bos>", "<pad>", "<unk>"), ids):
        assert (token in tok) == (i is not None)
        if i is not None:
            assert tok.token_to_id(token) == i
            assert tok.id_to_token(i) == token


def test_custom_alphabet_as_str_or_sequence() -> None:
    tok = CharTokenizer(["x", "y", "z"], pad=True)
    assert tok == CharTokenizer("xyz", pad=True)
    assert tok.alphabet == "xyz"
    assert tok.encode("zyx", add_eos=True) == [2, 1, 0, 3]
    assert (tok.eos_id, tok.pad_id, len(tok)) == (3, 4, 5)


def test_contains() -> None:
    tok = CharTokenizer("ab", unk=True)
    assert "a" in tok and "<eos>" in tok and "<unk>" in tok
    assert "c" not in tok and "<bos>" not in tok and "ab" not in tok and 0 not in tok


# Folding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Åsa", "Asa"),
        ("Nuñez", "Nunez"),
        ("Ślusàrski", "Slusarski"),
        ("Strauß", "Strauß"),
        ("plain ascii", "plain ascii"),
        ("e\u0301", "e"),  # already decomposed
    ],
)
def test_fold_to_ascii(text: str, folded: str) -> None:
    assert fold_to_ascii(text) == folded


def test_encode_folds_by_default() -> None:
    tok = CharTokenizer()
    assert tok.encode("Åsa") == tok.encode("Asa")
    assert tok.decode(tok.encode("Nuñez")) == "Nunez"


def test_fold_unicode_off_keeps_accents() -> None:
    with pytest.raises(ValueError, match="'ñ' at position 2"):
        CharTokenizer(fold_unicode=False).encode("Nuñez")
    tok = CharTokenizer("Nuñez", fold_unicode=False)
    assert tok.encode("Nuñez") == [0, 1, 2, 3, 4]


def test_alphabet_character_that_folding_changes_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"'ñ' folds to 'n'.*fold_unicode=False"):
        CharTokenizer("Nuñez")


# Out-of-alphabet policies ------------------------------------------------------------------


def test_oov_error_names_character_and_position_in_original_text() -> None:
    with pytest.raises(ValueError, match=r"character 'ß' at position 5 of 'Strauß'"):
        CharTokenizer().encode("Strauß")
    # Positions count characters of the original text: the lone accent folds to nothing.
    with pytest.raises(ValueError, match=r"character '!' at position 5 of 'Jose\u0301!'"):
        CharTokenizer().encode("Jose\u0301!")


def test_oov_error_on_long_text_shows_an_excerpt() -> None:
    text = "a" * 200 + "?" + "b" * 200
    with pytest.raises(ValueError, match=r"'\?' at position 200 of \.\.\.'a+\?b+'\.\.\.") as info:
        CharTokenizer().encode(text)
    assert len(str(info.value)) < 200


def test_oov_drop_matches_lectures_unicode_to_ascii() -> None:
    tok = CharTokenizer(oov="drop")
    for name in ["Strauß", "Ślusàrski", "Nuñez", "Đặng", "O'Néal", "日本"]:
        assert tok.decode(tok.encode(name)) == unicode_to_ascii(name)


def test_oov_unk_maps_each_unknown_character_to_one_unk() -> None:
    tok = CharTokenizer(unk=True, oov="unk")
    unk = tok.unk_id
    assert unk == 59
    assert tok.encode("Straße") == [*tok.encode("Stra"), unk, tok.encode("e")[0]]
    assert tok.encode("한") == [unk]  # folds to three jamo, still one unknown character
    assert tok.decode(tok.encode("aßb"), skip_special=False) == "a<unk>b"


def test_oov_unk_needs_unk_token() -> None:
    with pytest.raises(ValueError, match='oov="unk" needs an UNK token'):
        CharTokenizer(oov="unk")


def test_unknown_oov_policy() -> None:
    with pytest.raises(ValueError, match=r"oov must be one of .*got 'ignore'"):
        CharTokenizer(oov="ignore")  # type: ignore[arg-type]


# Encoding ----------------------------------------------------------------------------------


def test_encode_with_bos_and_eos() -> None:
    tok = CharTokenizer(bos=True)
    assert tok.encode("ab", add_bos=True, add_eos=True) == [59, 0, 1, 58]
    assert tok.encode("", add_bos=True) == [59]


def test_add_bos_without_bos_token() -> None:
    with pytest.raises(ValueError, match="add_bos=True needs a BOS token"):
        CharTokenizer().encode("ab", add_bos=True)
    with pytest.raises(ValueError, match="add_bos=True needs a BOS token"):
        CharTokenizer().encode_batch(["ab"], add_bos=True)


def test_encode_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="expected a str to encode, got list"):
        CharTokenizer().encode(["a"])  # type: ignore[arg-type]


def test_encode_batch_pads_with_eos_without_pad_token() -> None:
    tok = CharTokenizer("abc")
    tokens, lengths = tok.encode_batch(["abc", "", "b"])
    assert tokens.dtype == lengths.dtype == torch.int64
    assert tokens.tolist() == [[0, 1, 2], [3, 3, 3], [1, 3, 3]]
    assert lengths.tolist() == [3, 0, 1]


def test_encode_batch_pads_with_pad_token() -> None:
    tok = CharTokenizer("abc", bos=True, pad=True)
    tokens, lengths = tok.encode_batch(["ab", "c"], add_bos=True, add_eos=True)
    assert tokens.tolist() == [[4, 0, 1, 3], [4, 2, 3, 5]]
    assert lengths.tolist() == [4, 3]


def test_encode_batch_rows_equal_encode() -> None:
    tok = CharTokenizer()
    texts = ["Nuñez", "Li", "O'Brien-Smith"]
    tokens, lengths = tok.encode_batch(texts, add_eos=True)
    assert tokens.shape == (3, 14)
    for row, length, text in zip(tokens, lengths, texts):
        assert row[:length].tolist() == tok.encode(text, add_eos=True)


def test_encode_batch_errors() -> None:
    tok = CharTokenizer()
    with pytest.raises(ValueError, match="empty batch"):
        tok.encode_batch([])
    with pytest.raises(TypeError, match="got a single str"):
        tok.encode_batch("abc")
    with pytest.raises(ValueError, match=r"texts\[1\]: character '\?' at position 2"):
        tok.encode_batch(["ok", "no?"])


# Decoding ----------------------------------------------------------------------------------


def test_decode_stops_at_first_eos() -> None:
    tok = CharTokenizer()
    ids = [*tok.encode("ab"), 58, *tok.encode("cd"), 58]
    assert tok.decode(ids) == "ab"
    assert tok.decode(torch.tensor(ids)) == "ab"
    assert tok.decode(ids, stop_at_eos=False) == "abcd"
    assert tok.decode(ids, stop_at_eos=False, skip_special=False) == "ab<eos>cd<eos>"


def test_decode_specials() -> None:
    tok = CharTokenizer("ab", bos=True, pad=True, unk=True)
    ids = [3, 0, 5, 1, 2, 4, 4]
    assert tok.decode(ids) == "ab"
    assert tok.decode(ids, skip_special=False) == "<bos>a<unk>b"
    assert tok.decode(ids, stop_at_eos=False, skip_special=False) == "<bos>a<unk>b<eos><pad><pad>"


def test_decode_errors() -> None:
    tok = CharTokenizer()
    with pytest.raises(ValueError, match=r"id 59 at position 2 is out of range"):
        tok.decode([0, 1, 59])
    with pytest.raises(ValueError, match=r"id -1 at position 0 is out of range"):
        tok.decode(torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match=r"1-D tensor of ids, got shape \(1, 2\)"):
        tok.decode(torch.zeros(1, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"integer tensor of ids, got dtype torch\.float32"):
        tok.decode(torch.zeros(2))
    with pytest.raises(TypeError, match=r"integer ids, got 1\.5 at position 1"):
        tok.decode([0, 1.5])  # type: ignore[list-item]


def test_decode_batch_uses_lengths() -> None:
    tok = CharTokenizer("abc")
    tokens = torch.tensor([[0, 1, 2], [2, 2, 0]])
    assert tok.decode_batch(tokens) == ["abc", "cca"]
    assert tok.decode_batch(tokens, torch.tensor([2, 1])) == ["ab", "c"]
    assert tok.decode_batch([[0, 3, 1], [2]], [3, 1]) == ["a", "c"]


def test_decode_batch_errors() -> None:
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"2-D tensor of ids, got shape \(3,\)"):
        tok.decode_batch(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="expected 2 lengths, one per row, got 1"):
        tok.decode_batch(torch.zeros(2, 3, dtype=torch.int64), [1])
    with pytest.raises(ValueError, match=r"row 1: length 4 is out of range \[0, 3\]"):
        tok.decode_batch(torch.zeros(2, 3, dtype=torch.int64), [1, 4])
    with pytest.raises(ValueError, match="row 1: id 9 at position 0 is out of range"):
        tok.decode_batch([[0], [9]])
    with pytest.raises(TypeError, match="row 0: expected a sequence of ids, got int"):
        tok.decode_batch([0, 1])  # type: ignore[list-item]


# Round trips -------------------------------------------------------------------------------


@given(alphabet_texts)
def test_decode_inverts_encode(text: str) -> None:
    tok = CharTokenizer(bos=True, pad=True)
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(text, add_bos=True, add_eos=True)) == text
    assert tok.decode(tok.encode(text, add_eos=True) + tok.encode("junk")) == text
    assert fold_to_ascii(text) == text


@given(st.lists(alphabet_texts, min_size=1, max_size=5), st.booleans())
def test_decode_batch_inverts_encode_batch(texts: list[str], pad: bool) -> None:
    tok = CharTokenizer(pad=pad)
    tokens, lengths = tok.encode_batch(texts, add_eos=True)
    assert tok.decode_batch(tokens, lengths) == texts
    assert tok.decode_batch(tokens) == texts


@given(st.text(alphabet="xyz\u00e9", max_size=20))
def test_round_trip_over_a_custom_alphabet(text: str) -> None:
    tok = CharTokenizer("xyz\u00e9", fold_unicode=False)
    assert tok.decode(tok.encode(text)) == text


# Identity and persistence ------------------------------------------------------------------


def test_equality_hash_and_repr() -> None:
    tok = CharTokenizer("ab", unk=True, oov="unk")
    same = CharTokenizer(["a", "b"], unk=True, oov="unk")
    assert tok == same and hash(tok) == hash(same)
    assert tok != CharTokenizer("ab", unk=True)
    assert tok != CharTokenizer("ba", unk=True, oov="unk")
    assert tok != "ab"
    assert repr(tok) == (
        "CharTokenizer('ab', bos=False, pad=False, unk=True, oov='unk', fold_unicode=True)"
    )
    assert eval(repr(tok), {"CharTokenizer": CharTokenizer}) == tok


def test_is_immutable() -> None:
    tok = CharTokenizer()
    with pytest.raises(AttributeError):
        tok.eos_id = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        tok.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "tok",
    [
        CharTokenizer(),
        CharTokenizer("xyz", bos=True, pad=True, unk=True, oov="unk"),
        CharTokenizer('é"\\ \n', oov="drop", fold_unicode=False),
    ],
)
def test_save_load_round_trip(tok: CharTokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = CharTokenizer.load(path)
    assert loaded == tok
    assert CharTokenizer.load(str(path)) == tok
    assert CharTokenizer.from_dict(tok.to_dict()) == tok
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "seqlearn.CharTokenizer" and data["version"] == 1


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "field 'format' is 'other'"),
        ({"version": 2}, "field 'version' is 2, expected 1"),
        ({"version": "1"}, "field 'version' must be a int, got '1'"),
        ({"alphabet": ["a", "b"]}, r"field 'alphabet' must be a str, got \['a', 'b'\]"),
        ({"bos": "yes"}, "field 'bos' must be a bool, got 'yes'"),
        ({"oov": "skip"}, "oov must be one of .*got 'skip'"),
        ({"oov": "unk"}, 'oov="unk" needs an UNK token'),
        ({"alphabet": "aba"}, "alphabet has duplicate character 'a' at positions 0 and 2"),
        ({"extra": 1}, r"unknown field\(s\) \['extra'\]"),
    ],
)
def test_load_rejects_wrong_fields(change: dict[str, object], message: str, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.json", {**CharTokenizer().to_dict(), **change})
    with pytest.raises(ValueError, match=rf"bad\.json: {message}"):
        CharTokenizer.load(path)


@pytest.mark.parametrize("field", ["format", "version", "alphabet", "pad", "fold_unicode"])
def test_load_rejects_missing_field(field: str, tmp_path: Path) -> None:
    data = CharTokenizer().to_dict()
    del data[field]
    path = _write(tmp_path / "missing.json", data)
    with pytest.raises(ValueError, match=rf"missing\.json: missing field '{field}'"):
        CharTokenizer.load(path)


def test_load_rejects_broken_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "seqlearn.CharTokenizer", ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: Expecting property name"):
        CharTokenizer.load(path)
    with pytest.raises(ValueError, match=r"list\.json: expected a mapping of fields, got list"):
        CharTokenizer.load(_write(tmp_path / "list.json", [1, 2]))


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ValueError, match="expected a mapping of fields, got str"):
        CharTokenizer.from_dict("abc")  # type: ignore[arg-type]


# Construction errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alphabet", "error", "message"),
    [
        ("", ValueError, "alphabet is empty"),
        ([], ValueError, "alphabet is empty"),
        ("abca", ValueError, "duplicate character 'a' at positions 0 and 3"),
        (["a", "bc"], ValueError, "alphabet item 1 is 'bc'; expected one character"),
        (["a", ""], ValueError, "alphabet item 1 is ''; expected one character"),
        (["a", 1], TypeError, "alphabet item 1 is a int, not a str"),
    ],
)
def test_bad_alphabet(alphabet: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CharTokenizer(alphabet)  # type: ignore[arg-type]


def test_flags_must_be_bools() -> None:
    with pytest.raises(TypeError, match="pad must be a bool, got 1"):
        CharTokenizer(pad=1)  # type: ignore[arg-type]


def test_token_and_id_lookups_reject_unknowns() -> None:
    tok = CharTokenizer()
    with pytest.raises(ValueError, match="token '<bos>' is not in the vocabulary"):
        tok.token_to_id("<bos>")
    with pytest.raises(ValueError, match="token 'ab' is not in the vocabulary"):
        tok.token_to_id("ab")
    with pytest.raises(ValueError, match="id 59 is out of range"):
        tok.id_to_token(59)
    with pytest.raises(ValueError, match="id -1 is out of range"):
        tok.id_to_token(-1)
