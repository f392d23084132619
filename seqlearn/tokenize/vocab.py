"""A word vocabulary: tokens <-> ids, with PAD and UNK first, built from words or a corpus."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from torch import Tensor
from typing_extensions import Self, final

from seqlearn._checks import check_int
from seqlearn.tokenize._batch import checked_ids
from seqlearn.tokenize._json import JsonFormat, field, str_or_none_field

__all__ = ["Vocabulary"]

_JSON = JsonFormat("seqlearn.Vocabulary", 1, ("words", "pad", "unk"), indent=1, ensure_ascii=False)


@final
class Vocabulary:
    """Maps each token of a fixed list to an id, with optional PAD and UNK tokens first.

    Ids are laid out as: PAD (``"<pad>"``, id 0) if enabled, then UNK (``"<unk>"``, the
    next id) if enabled, then the words in the order given. Padding with id 0 lets an
    :class:`~torch.nn.Embedding` use ``padding_idx=0``. Encoding maps a token outside the
    vocabulary to UNK, or raises without one. The vocabulary is immutable.

    Args:
        words: The words, distinct non-empty strings, in id order.
        pad: The padding token, or ``None`` for none.
        unk: The unknown-token token, or ``None`` for none.

    Raises:
        TypeError: If a word or special token is not a string.
        ValueError: If a word is empty or repeated, or equals a special token, or both
            special tokens are the same string.

    Example:
        >>> vocab = Vocabulary(["the", "cat"])
        >>> len(vocab), vocab.pad_id, vocab.unk_id
        (4, 0, 1)
        >>> vocab.encode(["the", "dog", "cat"])
        [2, 1, 3]
        >>> vocab.decode([2, 1, 3, 0])
        ['the', '<unk>', 'cat', '<pad>']
    """

    __slots__ = ("_index", "_pad", "_tokens", "_unk")

    _tokens: tuple[str, ...]
    _index: dict[str, int]
    _pad: str | None
    _unk: str | None

    def __init__(
        self, words: Iterable[str], *, pad: str | None = "<pad>", unk: str | None = "<unk>"
    ) -> None:
        if isinstance(words, str):
            raise TypeError("expected an iterable of words, got a single str; wrap it in a list")
        for name, special in (("pad", pad), ("unk", unk)):
            if special is not None and not isinstance(special, str):
                raise TypeError(f"{name} must be a str or None, got {special!r}")
            if special == "":
                raise ValueError(f"{name} must be a non-empty str or None, got ''")
        if pad is not None and pad == unk:
            raise ValueError(f"pad and unk must differ, got {pad!r} for both")
        specials = tuple(token for token in (pad, unk) if token is not None)
        tokens = [*specials]
        index = {token: i for i, token in enumerate(specials)}
        for position, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(f"word {position} is a {type(word).__name__}, not a str")
            if not word:
                raise ValueError(f"word {position} is empty; expected non-empty words")
            if word in index:
                what = "a special token" if word in specials else "a repeat"
                raise ValueError(f"word {position}, {word!r}, is {what}; expected distinct words")
            index[word] = len(tokens)
            tokens.append(word)
        self._tokens = tuple(tokens)
        self._index = index
        self._pad, self._unk = pad, unk

    @classmethod
    def from_corpus(
        cls,
        corpus: Iterable[Iterable[str]],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        pad: str | None = "<pad>",
        unk: str | None = "<unk>",
    ) -> Self:
        """Build a vocabulary of a corpus's frequent tokens.

        Words are the tokens seen at least ``min_freq`` times (special token strings are
        left out), ordered by frequency, most frequent first, then by the token itself, so
        the same corpus always gives the same ids.

        Args:
            corpus: The texts, each an iterable of tokens (the output of
                :meth:`~seqlearn.tokenize.WordTokenizer.tokenize`, say).
            min_freq: Keep tokens seen at least this many times.
            max_size: The most ids in all, special tokens included; ``None`` for no limit.
            pad: As the constructor.
            unk: As the constructor.

        Returns:
            The vocabulary.

        Raises:
            TypeError: If a text is a single string or a token is not a string.
            ValueError: If ``min_freq`` is not a positive int or ``max_size`` is smaller
                than the number of special tokens, or as the constructor.

        Example:
            >>> corpus = [["a", "b", "b"], ["c", "b", "a"], ["d"]]
            >>> Vocabulary.from_corpus(corpus, min_freq=1, max_size=5).tokens
            ('<pad>', '<unk>', 'b', 'a', 'c')
        """
        if not isinstance(min_freq, int) or isinstance(min_freq, bool) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        specials = [token for token in (pad, unk) if token is not None]
        if max_size is not None and (
            not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < len(specials)
        ):
            raise ValueError(
                f"max_size must be an int of at least {len(specials)} (the special tokens) "
                f"or None, got {max_size!r}"
            )
        counts: Counter[str] = Counter()
        for position, text in enumerate(corpus):
            if isinstance(text, str):
                raise TypeError(
                    f"text {position} is a str; expected a list of tokens (tokenize it first)"
                )
            counts.update(text)
        for token in counts:
            if not isinstance(token, str):
                raise TypeError(f"expected tokens that are str, got {token!r}")
        for special in specials:
            counts.pop(special, None)
        frequent = sorted(
            (item for item in counts.items() if item[1] >= min_freq),
            key=lambda item: (-item[1], item[0]),
        )
        if max_size is not None:
            frequent = frequent[: max_size - len(specials)]
        return cls((word for word, _ in frequent), pad=pad, unk=unk)

    @property
    def tokens(self) -> tuple[str, ...]:
        """Every token in id order, special tokens first.

        Example:
            >>> Vocabulary(["x"], pad=None).tokens
            ('<unk>', 'x')
        """
        return self._tokens

    @property
    def words(self) -> tuple[str, ...]:
        """The tokens that are not special, in id order.

        Example:
            >>> Vocabulary(["x", "y"]).words
            ('x', 'y')
        """
        return self._tokens[self.num_special :]

    @property
    def num_special(self) -> int:
        """How many special tokens come first: 0, 1 or 2.

        Example:
            >>> Vocabulary(["x"], unk=None).num_special
            1
        """
        return (self._pad is not None) + (self._unk is not None)

    @property
    def pad_id(self) -> int | None:
        """The id of PAD, 0 when there is one, else ``None``.

        Example:
            >>> Vocabulary([]).pad_id
            0
        """
        return None if self._pad is None else self._index[self._pad]

    @property
    def unk_id(self) -> int | None:
        """The id of UNK, or ``None`` without one.

        Example:
            >>> Vocabulary([], pad=None).unk_id
            0
        """
        return None if self._unk is None else self._index[self._unk]

    def token_to_id(self, token: str) -> int:
        """The id of a token (a word or a special token string).

        Args:
            token: The token.

        Returns:
            Its id.

        Raises:
            ValueError: If the vocabulary has no such token (see :meth:`encode` to map it
                to UNK).

        Example:
            >>> Vocabulary(["cat"]).token_to_id("cat")
            2
        """
        try:
            return self._index[token]
        except (KeyError, TypeError):
            raise ValueError(f"token {token!r} is not in the vocabulary") from None

    def id_to_token(self, i: int) -> str:
        """The token of an id.

        Args:
            i: An id in ``[0, len(self))``.

        Returns:
            The token.

        Raises:
            TypeError: If ``i`` is not an integer (a bool is not one).
            ValueError: If ``i`` is out of range.

        Example:
            >>> Vocabulary(["cat"]).id_to_token(1)
            '<unk>'
        """
        i = check_int("id", i)
        if not 0 <= i < len(self._tokens):
            raise ValueError(f"id {i} is out of range; expected 0 <= id < {len(self._tokens)}")
        return self._tokens[i]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The ids of tokens, a token outside the vocabulary encoded as UNK.

        Args:
            tokens: The tokens.

        Returns:
            One id per token.

        Raises:
            TypeError: If ``tokens`` is a single string or holds a non-string.
            ValueError: If a token is outside a vocabulary without UNK, naming it.

        Example:
            >>> Vocabulary(["a"]).encode(["a", "z"])
            [2, 1]
        """
        if isinstance(tokens, str):
            raise TypeError("expected an iterable of tokens, got a single str; split it first")
        unk_id = self.unk_id
        ids = []
        for position, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"token {position} is a {type(token).__name__}, not a str")
            i = self._index.get(token, unk_id)
            if i is None:
                raise ValueError(
                    f"token {token!r} at position {position} is not in the vocabulary, which "
                    f"has no UNK token to stand for it; build it with unk='<unk>'"
                )
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int] | Tensor) -> list[str]:
        """The tokens of ids, special tokens included.

        Args:
            ids: The ids, a sequence of ints or a 1-D integer tensor.

        Returns:
            One token per id.

        Raises:
            TypeError: If an id is not an integer.
            ValueError: If ``ids`` is a tensor that is not 1-D, or an id is out of range;
                the message names the id and its position.

        Example:
            >>> import torch
            >>> Vocabulary(["a", "b"]).decode(torch.tensor([3, 2]))
            ['b', 'a']
        """
        return [self._tokens[i] for i in checked_ids(ids, len(self._tokens))]

    def __len__(self) -> int:
        """The number of ids: the special tokens and the words."""
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        """Whether ``token`` is a word or a special token string of the vocabulary."""
        return isinstance(token, str) and token in self._index

    def __iter__(self) -> Iterator[str]:
        """The tokens in id order, special tokens first."""
        return iter(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return (self._tokens, self._pad, self._unk) == (other._tokens, other._pad, other._unk)

    def __hash__(self) -> int:
        return hash((self._tokens, self._pad, self._unk))

    def __repr__(self) -> str:
        shown = ", ".join(repr(word) for word in self.words[:5])
        more = ", ..." if len(self.words) > 5 else ""
        return f"Vocabulary([{shown}{more}], pad={self._pad!r}, unk={self._unk!r})"

    def to_dict(self) -> dict[str, object]:
        """The vocabulary as a JSON-ready dictionary, tagged with format and version.

        Returns:
            A dictionary that :meth:`from_dict` turns back into an equal vocabulary.

        Example:
            >>> Vocabulary(["a", "b"], unk=None).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'format': 'seqlearn.Vocabulary', 'version': 1, 'words': ['a', 'b'],
             'pad': '<pad>', 'unk': None}
        """
        return {
            **_JSON.header(),
            "words": list(self.words),
            "pad": self._pad,
            "unk": self._unk,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Build a vocabulary from :meth:`to_dict`'s output.

        Args:
            data: A mapping with exactly the fields :meth:`to_dict` writes.

        Returns:
            The vocabulary.

        Raises:
            ValueError: If ``data`` is not a mapping, or a field is missing, unknown or of
                the wrong type or value, naming the field.

        Example:
            >>> vocab = Vocabulary(["a"], pad=None)
            >>> Vocabulary.from_dict(vocab.to_dict()) == vocab
            True
        """
        _JSON.check(data)
        words: list[Any] = field(data, "words", list)
        pad, unk = str_or_none_field(data, "pad"), str_or_none_field(data, "unk")
        try:
            return cls(words, pad=pad, unk=unk)
        except (TypeError, ValueError) as error:
            raise ValueError(f"fields 'words', 'pad', 'unk': {error}") from error

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary to a JSON file.

        Args:
            path: Where to write; an existing file is replaced.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     Vocabulary(["a", "b"]).save(f"{root}/vocab.json")
            ...     Vocabulary.load(f"{root}/vocab.json").words
            ('a', 'b')
        """
        _JSON.write(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a vocabulary written by :meth:`save`.

        Args:
            path: The JSON file.

        Returns:
            A vocabulary equal to the one saved.

        Raises:
            OSError: If the file cannot be read.
            ValueError: If the file is not valid JSON or its fields are wrong; the message
                names the file and the field.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     Vocabulary(["é"], unk=None).save(f"{root}/vocab.json")
            ...     Vocabulary.load(f"{root}/vocab.json")
            Vocabulary(['é'], pad='<pad>', unk=None)
        """
        return _JSON.read(path, cls.from_dict)
