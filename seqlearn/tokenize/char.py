"""Character tokenizer: text <-> ids over a fixed alphabet, laid out as in the lecture.

With the default alphabet, ``string.ascii_letters + " .,;'-"``, the id of a character ``c``
is the lecture's ``all_letters.find(c)`` and EOS is the last of its 59 ids, so one-hot
inputs and targets match the lecture's ``input_to_onehot`` and ``target_to_indices``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Literal, TypeAlias, cast, get_args

import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import Self, final

from seqlearn._checks import check_int
from seqlearn.tokenize._batch import checked_ids, decode_rows, encode_texts
from seqlearn.tokenize._json import JsonFormat, field
from seqlearn.tokenize.fold import fold_to_ascii

__all__ = ["ASCII_LETTERS_ALPHABET", "CharTokenizer", "OOVPolicy"]

ASCII_LETTERS_ALPHABET: str = string.ascii_letters + " .,;'-"
"""The lecture's ``all_letters``: 52 ASCII letters and ``" .,;'-"``, 58 characters.

Example:
    >>> len(ASCII_LETTERS_ALPHABET), ASCII_LETTERS_ALPHABET[-6:]
    (58, " .,;'-")
    >>> ASCII_LETTERS_ALPHABET.find("A") == CharTokenizer().token_to_id("A")
    True
"""

OOVPolicy: TypeAlias = Literal["error", "drop", "unk"]
"""What encoding does with a character outside the alphabet: raise, skip it, or emit UNK.

Example:
    >>> CharTokenizer("ab", oov="drop").encode("abc")
    [0, 1]
    >>> CharTokenizer("ab", unk=True, oov="unk").encode("abc")
    [0, 1, 3]
"""

_EOS, _BOS, _PAD, _UNK = "<eos>", "<bos>", "<pad>", "<unk>"
_JSON = JsonFormat(
    "seqlearn.CharTokenizer", 1, ("alphabet", "bos", "pad", "unk", "oov", "fold_unicode"), indent=2
)


@final
class CharTokenizer:
    """Maps each character of a fixed alphabet to an id, with EOS and optional specials.

    Ids ``0 .. len(alphabet) - 1`` are the alphabet's characters in order, the next id is
    EOS (``"<eos>"``), then come BOS, PAD and UNK (``"<bos>"``, ``"<pad>"``, ``"<unk>"``),
    each only if enabled. Encoding folds accented letters to ASCII first (see
    :func:`~seqlearn.tokenize.fold_to_ascii`) and then applies the ``oov`` policy to
    characters still outside the alphabet. Special token strings are never parsed out of
    text: ``"<eos>"`` in a text is five characters. The tokenizer is immutable.

    Args:
        alphabet: The characters, as a string or a sequence of one-character strings.
        bos: Add a beginning-of-sequence token.
        pad: Add a padding token, used by :meth:`encode_batch` to pad.
        unk: Add an unknown-character token.
        oov: Out-of-alphabet policy: ``"error"`` raises, ``"drop"`` skips the character,
            ``"unk"`` encodes it as UNK (needs ``unk=True``).
        fold_unicode: Fold accented letters to their base letters before lookup.

    Raises:
        TypeError: If an alphabet item is not a string or a flag is not a bool.
        ValueError: If the alphabet is empty, has duplicates or items longer than one
            character, holds a character that folding would change while ``fold_unicode``
            is on, or if ``oov`` is unknown or ``"unk"`` without ``unk=True``.

    Example:
        >>> tok = CharTokenizer()
        >>> len(tok), tok.eos_id
        (59, 58)
        >>> tok.encode("Nuñez", add_eos=True)
        [39, 20, 13, 4, 25, 58]
        >>> tok.decode([39, 20, 13, 4, 25, 58, 0])
        'Nunez'
    """

    __slots__ = ("_alphabet", "_fold_unicode", "_index", "_oov", "_tokens")

    _alphabet: str
    _tokens: tuple[str, ...]
    _index: dict[str, int]
    _oov: OOVPolicy
    _fold_unicode: bool

    def __init__(
        self,
        alphabet: str | Sequence[str] = ASCII_LETTERS_ALPHABET,
        *,
        bos: bool = False,
        pad: bool = False,
        unk: bool = False,
        oov: OOVPolicy = "error",
        fold_unicode: bool = True,
    ) -> None:
        flags = {"bos": bos, "pad": pad, "unk": unk, "fold_unicode": fold_unicode}
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        if oov not in get_args(OOVPolicy):
            raise ValueError(f"oov must be one of {get_args(OOVPolicy)}, got {oov!r}")
        if oov == "unk" and not unk:
            raise ValueError('oov="unk" needs an UNK token; construct with unk=True')
        self._alphabet = _check_alphabet(alphabet, fold_unicode)
        specials = [token for token, on in ((_BOS, bos), (_PAD, pad), (_UNK, unk)) if on]
        self._tokens = (*self._alphabet, _EOS, *specials)
        self._index = {token: i for i, token in enumerate(self._tokens)}
        self._oov = oov
        self._fold_unicode = fold_unicode

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        *,
        min_count: int = 1,
        oov: OOVPolicy = "unk",
        fold_unicode: bool = False,
        bos: bool = False,
        pad: bool = False,
    ) -> Self:
        """A tokenizer whose alphabet is the characters of the training texts.

        Every character that occurs at least ``min_count`` times in ``texts`` joins the
        alphabet, in code point order; rarer ones are out of the alphabet and follow the
        ``oov`` policy (UNK by default). Nothing is folded unless ``fold_unicode`` is set,
        so names written in Cyrillic, Greek, Arabic or CJK scripts keep their letters (the
        lecture's alphabet folds everything to ASCII and drops what it cannot fold). The
        alphabet is saved with the tokenizer (:meth:`to_dict`), so a model trained on it
        loads with it.

        Args:
            texts: The training texts.
            min_count: How often a character must occur to get an id of its own.
            oov: What encoding does with characters outside the alphabet (``"unk"`` adds
                an UNK token).
            fold_unicode: Fold accented letters to their base letters first (then counted
                and encoded folded).
            bos: Add a beginning-of-sequence token.
            pad: Add a padding token.

        Returns:
            The tokenizer.

        Raises:
            TypeError: If a text is not a string or ``min_count`` not an int.
            ValueError: If ``min_count`` is below 1 or no character occurs that often.

        Example:
            >>> tokenizer = CharTokenizer.from_texts(["Иванов", "Иванова", "Петров"], min_count=2)
            >>> tokenizer.alphabet, tokenizer.eos_id, tokenizer.unk_id
            ('Иавно', 5, 6)
            >>> tokenizer.encode("Петрова")  # П, е, т and р are rarer than min_count: UNK
            [6, 6, 6, 6, 4, 2, 1]
            >>> tokenizer.decode(tokenizer.encode("Иванов"))
            'Иванов'
        """
        if check_int("min_count", min_count) < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        if isinstance(texts, str):
            raise TypeError("expected an iterable of texts, got a single str; wrap it in a list")
        counts: dict[str, int] = {}
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"expected texts of type str, got {type(text).__name__} at {index}")
            for char in fold_to_ascii(text) if fold_unicode else text:
                counts[char] = counts.get(char, 0) + 1
        alphabet = sorted(char for char, count in counts.items() if count >= min_count)
        if not alphabet:
            raise ValueError(
                f"no character occurs at least min_count={min_count} times in the "
                f"{'texts' if counts else 'texts (they are empty)'}"
            )
        return cls(alphabet, bos=bos, pad=pad, unk=oov == "unk", oov=oov, fold_unicode=fold_unicode)

    @property
    def alphabet(self) -> str:
        """The alphabet's characters, in id order.

        Example:
            >>> CharTokenizer("abc").alphabet
            'abc'
        """
        return self._alphabet

    @property
    def vocab_size(self) -> int:
        """The number of ids, ``V``: the alphabet, EOS and the enabled specials.

        Example:
            >>> CharTokenizer("abc", bos=True, pad=True).vocab_size
            6
        """
        return len(self._tokens)

    @property
    def eos_id(self) -> int:
        """The id of EOS, ``len(alphabet)``.

        Example:
            >>> CharTokenizer("abc").eos_id
            3
        """
        return len(self._alphabet)

    @property
    def bos_id(self) -> int | None:
        """The id of BOS, or ``None`` without one.

        Example:
            >>> CharTokenizer("abc", bos=True).bos_id
            4
        """
        return self._index.get(_BOS)

    @property
    def pad_id(self) -> int | None:
        """The id of PAD, or ``None`` without one.

        Example:
            >>> CharTokenizer("abc", pad=True, unk=True).pad_id
            4
        """
        return self._index.get(_PAD)

    @property
    def unk_id(self) -> int | None:
        """The id of UNK, or ``None`` without one.

        Example:
            >>> CharTokenizer("abc", bos=True, pad=True, unk=True).unk_id
            6
        """
        return self._index.get(_UNK)

    def encode(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Encode a text as ids, folding it and applying the out-of-alphabet policy.

        Each character of ``text`` is folded on its own, so error positions refer to the
        original text; a character that folds to nothing (a lone combining accent) has no
        ids, and one that does not fold into the alphabet is a single out-of-alphabet
        character (one UNK under ``oov="unk"``).

        Args:
            text: The text to encode.
            add_bos: Put BOS first (needs a tokenizer built with ``bos=True``).
            add_eos: Put EOS last.

        Returns:
            The ids, one per character of the folded text, plus the requested specials.

        Raises:
            TypeError: If ``text`` is not a string.
            ValueError: If ``add_bos`` is set without a BOS token, or, under
                ``oov="error"``, a character is not in the alphabet.

        Example:
            >>> tok = CharTokenizer("ab", bos=True, unk=True, oov="unk")
            >>> tok.encode("abc", add_bos=True, add_eos=True)
            [3, 0, 1, 4, 2]
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a str to encode, got {type(text).__name__}")
        bos_id = self.bos_id
        if add_bos and bos_id is None:
            raise ValueError("add_bos=True needs a BOS token; construct with bos=True")
        ids = [bos_id] if bos_id is not None and add_bos else []
        for position, char in enumerate(text):
            char_id = self._index.get(char)
            if char_id is not None:
                ids.append(char_id)
                continue
            piece = fold_to_ascii(char) if self._fold_unicode else char
            piece_ids = [self._index[c] for c in piece if c in self._index]
            if len(piece_ids) == len(piece):
                ids.extend(piece_ids)
            elif self._oov == "unk":
                ids.append(self._index[_UNK])
            elif self._oov == "error":
                raise ValueError(_oov_message(text, position))
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def encode_one_hot(self, text: str, *, add_bos: bool = False, add_eos: bool = False) -> Tensor:
        """Encode a text as one-hot rows, as the lecture's ``input_to_onehot``.

        Args:
            text: The text to encode.
            add_bos: Put BOS first.
            add_eos: Put EOS last.

        Returns:
            A float32 tensor with a single 1 in each row, at the id of that position.

        Raises:
            TypeError: As :meth:`encode`.
            ValueError: As :meth:`encode`.

        Shape:
            Output: ``(T, V)``, ``T`` the number of ids :meth:`encode` gives.

        Example:
            >>> CharTokenizer("ab").encode_one_hot("ba")
            tensor([[0., 1., 0.],
                    [1., 0., 0.]])
        """
        ids = torch.tensor(self.encode(text, add_bos=add_bos, add_eos=add_eos), dtype=torch.int64)
        return F.one_hot(ids, self.vocab_size).to(torch.float32)  # (T, V)

    def encode_batch(
        self, texts: Sequence[str], *, add_bos: bool = False, add_eos: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Encode texts into one padded tensor of ids and their lengths.

        Row ``b`` holds the ids of ``texts[b]`` in its first ``lengths[b]`` positions; the
        rest is padding, ``pad_id`` if the tokenizer has PAD and ``eos_id`` otherwise.
        Padding is not data: ignore it through ``lengths`` (an EOS used as padding looks
        just like a real EOS).

        Args:
            texts: The texts, at least one.
            add_bos: Put BOS first in every row.
            add_eos: Put EOS last in every row (before the padding).

        Returns:
            ``(tokens, lengths)``, both int64.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string.
            ValueError: If ``texts`` is empty, or as :meth:`encode`, naming the text's index.

        Shape:
            tokens: ``(B, T)``, ``T`` the longest encoded text.
            lengths: ``(B,)``.

        Example:
            >>> tokens, lengths = CharTokenizer("abc").encode_batch(["ab", "c"], add_eos=True)
            >>> tokens
            tensor([[0, 1, 3],
                    [2, 3, 3]])
            >>> lengths
            tensor([3, 2])
        """
        encode = partial(self.encode, add_bos=add_bos, add_eos=add_eos)
        return encode_texts(texts, encode, self.eos_id if self.pad_id is None else self.pad_id)

    def decode(
        self, ids: Sequence[int] | Tensor, *, stop_at_eos: bool = True, skip_special: bool = True
    ) -> str:
        """Turn ids back into text.

        Args:
            ids: The ids, a sequence of ints or a 1-D integer tensor.
            stop_at_eos: End the text at the first EOS.
            skip_special: Leave special tokens out; otherwise write them as ``"<bos>"``,
                ``"<pad>"``, ``"<unk>"`` (and ``"<eos>"`` when not stopping at it).

        Returns:
            The text.

        Raises:
            TypeError: If an id is not an integer.
            ValueError: If ``ids`` is a tensor that is not 1-D, or an id is outside
                ``[0, V)``; the message names the id and its position.

        Example:
            >>> tok = CharTokenizer("ab", bos=True)
            >>> tok.decode([3, 1, 0, 2, 0])
            'ba'
            >>> tok.decode([3, 1, 0, 2, 0], stop_at_eos=False, skip_special=False)
            '<bos>ba<eos>a'
        """
        values = checked_ids(ids, len(self._tokens))
        if stop_at_eos and self.eos_id in values:
            values = values[: values.index(self.eos_id)]
        n_chars = len(self._alphabet)
        return "".join(self._tokens[i] for i in values if i < n_chars or not skip_special)

    def decode_batch(
        self,
        ids: Tensor | Sequence[Sequence[int]],
        lengths: Tensor | Sequence[int] | None = None,
        *,
        stop_at_eos: bool = True,
        skip_special: bool = True,
    ) -> list[str]:
        """Decode each row of a batch, the inverse of :meth:`encode_batch`.

        Args:
            ids: A 2-D integer tensor or a sequence of id sequences (rows may differ).
            lengths: How many leading ids of each row to decode; all of them if ``None``.
            stop_at_eos: As :meth:`decode`.
            skip_special: As :meth:`decode`.

        Returns:
            One text per row.

        Raises:
            TypeError: As :meth:`decode`.
            ValueError: If ``ids`` is a tensor that is not 2-D, ``lengths`` does not have
                one length in ``[0, len(row)]`` per row, or as :meth:`decode`.

        Shape:
            ids: ``(B, T)``.
            lengths: ``(B,)``.

        Example:
            >>> tok = CharTokenizer("abc")
            >>> tok.decode_batch(*tok.encode_batch(["ab", "c"]))
            ['ab', 'c']
        """
        decode = partial(self.decode, stop_at_eos=stop_at_eos, skip_special=skip_special)
        return decode_rows(ids, lengths, decode)

    def token_to_id(self, token: str) -> int:
        """The id of an alphabet character or an enabled special token string.

        Args:
            token: A character of the alphabet, or ``"<eos>"``, ``"<bos>"``, ...

        Returns:
            Its id.

        Raises:
            ValueError: If the tokenizer has no such token.

        Example:
            >>> CharTokenizer().token_to_id("<eos>")
            58
        """
        try:
            return self._index[token]
        except (KeyError, TypeError):
            raise ValueError(f"token {token!r} is not in the vocabulary") from None

    def id_to_token(self, i: int) -> str:
        """The character or special token string of an id.

        Args:
            i: An id in ``[0, V)``.

        Returns:
            The token.

        Raises:
            TypeError: If ``i`` is not an integer (a bool is not one).
            ValueError: If ``i`` is out of range.

        Example:
            >>> CharTokenizer("ab").id_to_token(2)
            '<eos>'
        """
        i = check_int("id", i)
        if not 0 <= i < len(self._tokens):
            raise ValueError(f"id {i} is out of range; expected 0 <= id < {len(self._tokens)}")
        return self._tokens[i]

    def __len__(self) -> int:
        """The vocabulary size ``V``: alphabet, EOS and the enabled special tokens."""
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        """Whether ``token`` is an alphabet character or an enabled special token string."""
        return isinstance(token, str) and token in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharTokenizer):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().values()))

    def __repr__(self) -> str:
        return (
            f"CharTokenizer({self._alphabet!r}, bos={self.bos_id is not None}, "
            f"pad={self.pad_id is not None}, unk={self.unk_id is not None}, "
            f"oov={self._oov!r}, fold_unicode={self._fold_unicode})"
        )

    def to_dict(self) -> dict[str, object]:
        """The tokenizer's settings as a JSON-ready dictionary, tagged with format and version.

        Returns:
            A dictionary that :meth:`from_dict` turns back into an equal tokenizer.

        Example:
            >>> CharTokenizer("ab", unk=True).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'format': 'seqlearn.CharTokenizer', 'version': 1, 'alphabet': 'ab', 'bos': False,
             'pad': False, 'unk': True, 'oov': 'error', 'fold_unicode': True}
        """
        return {
            **_JSON.header(),
            "alphabet": self._alphabet,
            "bos": self.bos_id is not None,
            "pad": self.pad_id is not None,
            "unk": self.unk_id is not None,
            "oov": self._oov,
            "fold_unicode": self._fold_unicode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Build a tokenizer from :meth:`to_dict`'s output.

        Args:
            data: A mapping with exactly the fields :meth:`to_dict` writes.

        Returns:
            The tokenizer.

        Raises:
            ValueError: If ``data`` is not a mapping, a field is missing, unknown or of the
                wrong type or value, naming the field.

        Example:
            >>> tok = CharTokenizer("ab", bos=True)
            >>> CharTokenizer.from_dict(tok.to_dict()) == tok
            True
        """
        _JSON.check(data)
        return cls(
            field(data, "alphabet", str),
            bos=field(data, "bos", bool),
            pad=field(data, "pad", bool),
            unk=field(data, "unk", bool),
            oov=cast(OOVPolicy, field(data, "oov", str)),
            fold_unicode=field(data, "fold_unicode", bool),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer's settings to a small JSON file.

        Args:
            path: Where to write; an existing file is replaced.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     CharTokenizer(bos=True).save(f"{root}/tok.json")
            ...     CharTokenizer.load(f"{root}/tok.json").bos_id
            59
        """
        _JSON.write(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a tokenizer written by :meth:`save`.

        Args:
            path: The JSON file.

        Returns:
            A tokenizer equal to the one saved.

        Raises:
            OSError: If the file cannot be read.
            ValueError: If the file is not valid JSON or its fields are wrong; the message
                names the file and the field.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     CharTokenizer("xyz", oov="drop").save(f"{root}/tok.json")
            ...     CharTokenizer.load(f"{root}/tok.json")
            CharTokenizer('xyz', bos=False, pad=False, unk=False, oov='drop', fold_unicode=True)
        """
        return _JSON.read(path, cls.from_dict)


def _check_alphabet(alphabet: str | Sequence[str], fold_unicode: bool) -> str:
    chars = list(alphabet)
    if not chars:
        raise ValueError("alphabet is empty; expected at least one character")
    first_seen: dict[str, int] = {}
    for position, char in enumerate(chars):
        if not isinstance(char, str):
            raise TypeError(f"alphabet item {position} is a {type(char).__name__}, not a str")
        if len(char) != 1:
            raise ValueError(f"alphabet item {position} is {char!r}; expected one character")
        if char in first_seen:
            raise ValueError(
                f"alphabet has duplicate character {char!r} "
                f"at positions {first_seen[char]} and {position}"
            )
        first_seen[char] = position
        if fold_unicode and fold_to_ascii(char) != char:
            raise ValueError(
                f"alphabet character {char!r} folds to {fold_to_ascii(char)!r}, so it could "
                f"never be encoded; pass fold_unicode=False to keep it"
            )
    return "".join(chars)


def _oov_message(text: str, position: int) -> str:
    shown = repr(text)
    if len(text) > 60:  # show 50 characters around the culprit
        start = max(0, position - 25)
        ellipsis_after = "..." if start + 50 < len(text) else ""
        shown = f"{'...' if start else ''}{text[start : start + 50]!r}{ellipsis_after}"
    return (
        f"character {text[position]!r} at position {position} of {shown} is not in the "
        f'alphabet; pass oov="drop" or oov="unk" to accept it'
    )
