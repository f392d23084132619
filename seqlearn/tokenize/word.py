"""Word tokenizer: text -> lowercase -> tokens -> ids over a :class:`Vocabulary`, and back.

Splitting is a callable ``str -> list[str]``: :class:`WhitespaceSplitter` for text that is
already tokenised (SST's sentences are), :class:`RegexSplitter` for raw text, or your own
function (which :meth:`WordTokenizer.save` cannot write to JSON).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TypeAlias

from torch import Tensor
from typing_extensions import Self, final

from seqlearn.tokenize._batch import checked_ids, decode_rows, encode_texts
from seqlearn.tokenize._json import JsonFormat, field
from seqlearn.tokenize.vocab import Vocabulary

__all__ = ["RegexSplitter", "Splitter", "WhitespaceSplitter", "WordTokenizer"]

Splitter: TypeAlias = Callable[[str], list[str]]
"""Any ``str -> list[str]``: a :class:`WhitespaceSplitter`, a :class:`RegexSplitter`, or
your own function.

Example:
    >>> def on_commas(text: str) -> list[str]:
    ...     return [part.strip() for part in text.split(",")]
    >>> WordTokenizer(Vocabulary(["red", "green"]), split=on_commas).encode("red, blue,green")
    [2, 1, 3]
"""

# Penn Treebank-like tokens, as in GloVe's corpora: acronyms ("u.s."), "do" + "n't",
# clitics ("'s", "'re", ...), words joined by "-" or "." ("e-mail", "3.5"), any other symbol.
_WORD_PATTERN = r"(?i)(?:\w\.){2,}|\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|m|d)\b|\w+(?:[-.]\w+)*|\S"
_JSON = JsonFormat(
    "seqlearn.WordTokenizer", 1, ("lowercase", "split", "vocabulary"), indent=1, ensure_ascii=False
)


@final
class WhitespaceSplitter:
    """Splits text on runs of whitespace, as :meth:`str.split` does with no argument.

    For text whose tokens are already separated by spaces, such as the sentences of the
    Stanford Sentiment Treebank.

    Example:
        >>> WhitespaceSplitter()("it 's a  charming\\tjourney . ")
        ['it', "'s", 'a', 'charming', 'journey', '.']
    """

    __slots__ = ()

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text``."""
        return text.split()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WhitespaceSplitter)

    def __hash__(self) -> int:
        return hash(WhitespaceSplitter)

    def __repr__(self) -> str:
        return "WhitespaceSplitter()"


@final
class RegexSplitter:
    r"""Splits text into the matches of a regular expression, dropping what lies between.

    The default pattern approximates the Penn Treebank tokenisation of GloVe's corpora:
    ``"don't"`` gives ``"do"``, ``"n't"``; ``"it's"`` gives ``"it"``, ``"'s"``; acronyms
    keep their dots (``"u.s."``), words joined by ``-`` or ``.`` stay whole (``"e-mail"``,
    ``"3.5"``), and every other non-space character is a token of its own.

    Args:
        pattern: A regular expression whose matches are the tokens; ``None`` for the
            default above. Empty matches are dropped.

    Raises:
        ValueError: If ``pattern`` is not a valid regular expression.

    Example:
        >>> RegexSplitter()("don't panic: it's 3.5 km to the u.s. border!")
        ['do', "n't", 'panic', ':', 'it', "'s", '3.5', 'km', 'to', 'the', 'u.s.', 'border', '!']
        >>> RegexSplitter(r"[a-z]+")("abc, de")
        ['abc', 'de']
    """

    __slots__ = ("_regex",)

    _regex: re.Pattern[str]

    def __init__(self, pattern: str | None = None) -> None:
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError(f"pattern must be a str or None, got {pattern!r}")
        try:
            self._regex = re.compile(_WORD_PATTERN if pattern is None else pattern)
        except re.error as error:
            raise ValueError(
                f"pattern {pattern!r} is not a valid regular expression: {error}"
            ) from None

    @property
    def pattern(self) -> str:
        r"""The regular expression, as written.

        Example:
            >>> RegexSplitter(r"\w+").pattern
            '\\w+'
        """
        return self._regex.pattern

    def __call__(self, text: str) -> list[str]:
        """The tokens of ``text``: its non-empty matches, in order."""
        return [
            match.group() for match in self._regex.finditer(text) if match.end() > match.start()
        ]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegexSplitter) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash((RegexSplitter, self.pattern))

    def __repr__(self) -> str:
        return f"RegexSplitter({self.pattern!r})"


@final
class WordTokenizer:
    """Encodes text as word ids: lowercase it, split it into tokens, look the tokens up.

    A token outside the vocabulary is encoded as its UNK token. Decoding joins tokens with
    single spaces, so ``decode(encode(text))`` gives back the normalised tokens of ``text``
    when they are all in the vocabulary. The tokenizer is immutable.

    Args:
        vocabulary: The tokens and their ids.
        lowercase: Lowercase text before splitting it (GloVe's words are lowercase).
        split: How to split the (lowercased) text into tokens; ``None`` splits on
            whitespace (:class:`WhitespaceSplitter`).

    Raises:
        TypeError: If ``vocabulary`` is not a :class:`Vocabulary`, ``lowercase`` is not a
            bool or ``split`` is not callable.

    Example:
        >>> tok = WordTokenizer(Vocabulary(["the", "cat", "sat"]))
        >>> tok.tokenize("The cat  SAT")
        ['the', 'cat', 'sat']
        >>> tok.encode("the dog sat")
        [2, 1, 4]
        >>> tok.decode([2, 1, 4, 0])
        'the sat'
    """

    __slots__ = ("_lowercase", "_split", "_vocabulary")

    _vocabulary: Vocabulary
    _lowercase: bool
    _split: Splitter

    def __init__(
        self, vocabulary: Vocabulary, *, lowercase: bool = True, split: Splitter | None = None
    ) -> None:
        if not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"expected a Vocabulary, got {type(vocabulary).__name__}")
        if not isinstance(lowercase, bool):
            raise TypeError(f"lowercase must be a bool, got {lowercase!r}")
        if split is not None and not callable(split):
            raise TypeError(f"split must be a callable str -> list[str] or None, got {split!r}")
        self._vocabulary = vocabulary
        self._lowercase = lowercase
        self._split = WhitespaceSplitter() if split is None else split

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        *,
        lowercase: bool = True,
        split: Splitter | None = None,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Self:
        """A tokenizer whose vocabulary holds the frequent tokens of some texts.

        The texts are tokenised as the tokenizer will tokenise them, then counted by
        :meth:`Vocabulary.from_corpus` (PAD id 0, UNK id 1, then by frequency).

        Args:
            texts: The texts, say a training split.
            lowercase: As the constructor.
            split: As the constructor.
            min_freq: As :meth:`Vocabulary.from_corpus`.
            max_size: As :meth:`Vocabulary.from_corpus`.

        Returns:
            The tokenizer.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string.
            ValueError: As :meth:`Vocabulary.from_corpus`.

        Example:
            >>> tok = WordTokenizer.from_texts(["A b b", "b c"], min_freq=2)
            >>> tok.vocabulary.tokens
            ('<pad>', '<unk>', 'b')
        """
        if isinstance(texts, str):
            raise TypeError("expected an iterable of texts, got a single str; wrap it in a list")
        splitter = cls(Vocabulary([]), lowercase=lowercase, split=split)
        corpus = (splitter.tokenize(text) for text in texts)
        vocabulary = Vocabulary.from_corpus(corpus, min_freq=min_freq, max_size=max_size)
        return cls(vocabulary, lowercase=lowercase, split=split)

    @property
    def vocabulary(self) -> Vocabulary:
        """The vocabulary.

        Example:
            >>> len(WordTokenizer(Vocabulary(["a"])).vocabulary)
            3
        """
        return self._vocabulary

    @property
    def lowercase(self) -> bool:
        """Whether text is lowercased before it is split.

        Example:
            >>> WordTokenizer(Vocabulary([])).lowercase
            True
        """
        return self._lowercase

    @property
    def split(self) -> Splitter:
        """The function that splits normalised text into tokens.

        Example:
            >>> WordTokenizer(Vocabulary([])).split
            WhitespaceSplitter()
        """
        return self._split

    @property
    def vocab_size(self) -> int:
        """The number of ids, ``V``, special tokens included.

        Example:
            >>> WordTokenizer(Vocabulary(["a", "b"])).vocab_size
            4
        """
        return len(self._vocabulary)

    @property
    def pad_id(self) -> int | None:
        """The vocabulary's PAD id (0 by default), or ``None`` without one.

        Example:
            >>> WordTokenizer(Vocabulary(["a"])).pad_id
            0
        """
        return self._vocabulary.pad_id

    @property
    def unk_id(self) -> int | None:
        """The vocabulary's UNK id (1 by default), or ``None`` without one.

        Example:
            >>> WordTokenizer(Vocabulary(["a"])).unk_id
            1
        """
        return self._vocabulary.unk_id

    def tokenize(self, text: str) -> list[str]:
        """Normalise a text and split it into tokens.

        Args:
            text: The text.

        Returns:
            The tokens, lowercase if the tokenizer lowercases.

        Raises:
            TypeError: If ``text`` is not a string, or the splitter returns a non-string.

        Example:
            >>> WordTokenizer(Vocabulary([]), split=RegexSplitter()).tokenize("It's 5pm.")
            ['it', "'s", '5pm', '.']
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a str to tokenize, got {type(text).__name__}")
        tokens = list(self._split(text.lower() if self._lowercase else text))
        for position, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"the splitter gave a {type(token).__name__} at {position}")
        return tokens

    def encode(self, text: str) -> list[int]:
        """Encode a text as ids, a token outside the vocabulary as UNK.

        Args:
            text: The text.

        Returns:
            One id per token.

        Raises:
            TypeError: If ``text`` is not a string.
            ValueError: If a token is outside a vocabulary without UNK.

        Example:
            >>> WordTokenizer(Vocabulary(["a", "b"])).encode("B a C")
            [3, 2, 1]
        """
        return self._vocabulary.encode(self.tokenize(text))

    def encode_batch(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode texts into one tensor of ids padded with PAD, and their lengths.

        Row ``b`` holds the ids of ``texts[b]`` in its first ``lengths[b]`` positions and
        PAD after them. A text with no tokens has length 0.

        Args:
            texts: The texts, at least one.

        Returns:
            ``(tokens, lengths)``, both int64.

        Raises:
            TypeError: If ``texts`` is a single string or holds a non-string.
            ValueError: If ``texts`` is empty, the vocabulary has no PAD, or as
                :meth:`encode`, naming the text's index.

        Shape:
            tokens: ``(B, T)``, ``T`` the most tokens of any text.
            lengths: ``(B,)``.

        Example:
            >>> tokens, lengths = WordTokenizer(Vocabulary(["a", "b"])).encode_batch(["a b a", "b"])
            >>> tokens
            tensor([[2, 3, 2],
                    [3, 0, 0]])
            >>> lengths
            tensor([3, 1])
        """
        return encode_texts(texts, self.encode, self.pad_id)

    def decode(self, ids: Sequence[int] | Tensor, *, skip_special: bool = True) -> str:
        """Turn ids back into text: their tokens joined by single spaces.

        Args:
            ids: The ids, a sequence of ints or a 1-D integer tensor.
            skip_special: Leave PAD and UNK out; otherwise write their token strings.

        Returns:
            The text.

        Raises:
            TypeError: If an id is not an integer.
            ValueError: If ``ids`` is a tensor that is not 1-D, or an id is out of range.

        Example:
            >>> tok = WordTokenizer(Vocabulary(["a", "b"]))
            >>> tok.decode([3, 1, 2, 0]), tok.decode([3, 1, 2, 0], skip_special=False)
            ('b a', 'b <unk> a <pad>')
        """
        first_word = self._vocabulary.num_special if skip_special else 0
        return " ".join(
            self._vocabulary.id_to_token(i)
            for i in checked_ids(ids, len(self._vocabulary))
            if i >= first_word
        )

    def decode_batch(
        self,
        ids: Tensor | Sequence[Sequence[int]],
        lengths: Tensor | Sequence[int] | None = None,
        *,
        skip_special: bool = True,
    ) -> list[str]:
        """Decode each row of a batch, the inverse of :meth:`encode_batch`.

        Args:
            ids: A 2-D integer tensor or a sequence of id sequences (rows may differ).
            lengths: How many leading ids of each row to decode; all of them if ``None``.
            skip_special: As :meth:`decode`.

        Returns:
            One text per row.

        Raises:
            TypeError: As :meth:`decode`.
            ValueError: If ``ids`` is a tensor that is not 2-D, ``lengths`` does not have
                one length in ``[0, len(row)]`` per row, or as :meth:`decode`, naming the row.

        Shape:
            ids: ``(B, T)``.
            lengths: ``(B,)``.

        Example:
            >>> tok = WordTokenizer(Vocabulary(["a", "b"]))
            >>> tok.decode_batch(*tok.encode_batch(["a b", "B"]))
            ['a b', 'b']
        """
        return decode_rows(ids, lengths, partial(self.decode, skip_special=skip_special))

    def __len__(self) -> int:
        """The number of ids, ``V``, special tokens included."""
        return len(self._vocabulary)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordTokenizer):
            return NotImplemented
        return (self._vocabulary, self._lowercase, self._split) == (
            other._vocabulary,
            other._lowercase,
            other._split,
        )

    def __hash__(self) -> int:
        return hash((self._vocabulary, self._lowercase, self._split))

    def __repr__(self) -> str:
        return (
            f"WordTokenizer({self._vocabulary!r}, lowercase={self._lowercase}, "
            f"split={self._split!r})"
        )

    def to_dict(self) -> dict[str, object]:
        """The tokenizer as a JSON-ready dictionary, tagged with format and version.

        Returns:
            A dictionary that :meth:`from_dict` turns back into an equal tokenizer.

        Raises:
            TypeError: If the splitter is neither a :class:`WhitespaceSplitter` nor a
                :class:`RegexSplitter`: a function cannot be written to JSON.

        Example:
            >>> WordTokenizer(Vocabulary(["a"])).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'format': 'seqlearn.WordTokenizer', 'version': 1, 'lowercase': True,
             'split': {'kind': 'whitespace'},
             'vocabulary': {'format': 'seqlearn.Vocabulary', 'version': 1, 'words': ['a'],
                            'pad': '<pad>', 'unk': '<unk>'}}
        """
        if isinstance(self._split, WhitespaceSplitter):
            split: dict[str, object] = {"kind": "whitespace"}
        elif isinstance(self._split, RegexSplitter):
            split = {"kind": "regex", "pattern": self._split.pattern}
        else:
            raise TypeError(
                f"cannot write a tokenizer whose split is {self._split!r} to JSON: only "
                f"WhitespaceSplitter and RegexSplitter can be saved; rebuild the tokenizer "
                f"with your splitter after loading its vocabulary instead"
            )
        return {
            **_JSON.header(),
            "lowercase": self._lowercase,
            "split": split,
            "vocabulary": self._vocabulary.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Build a tokenizer from :meth:`to_dict`'s output.

        Args:
            data: A mapping with exactly the fields :meth:`to_dict` writes.

        Returns:
            The tokenizer.

        Raises:
            ValueError: If ``data`` is not a mapping, or a field is missing, unknown or of
                the wrong type or value, naming the field.

        Example:
            >>> tok = WordTokenizer(Vocabulary(["a"]), split=RegexSplitter(r"\\w+"))
            >>> WordTokenizer.from_dict(tok.to_dict()) == tok
            True
        """
        _JSON.check(data)
        try:
            vocabulary = Vocabulary.from_dict(field(data, "vocabulary", dict))
        except ValueError as error:
            raise ValueError(f"field 'vocabulary': {error}") from error
        return cls(
            vocabulary,
            lowercase=field(data, "lowercase", bool),
            split=_split_from_dict(field(data, "split", dict)),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the tokenizer, its vocabulary included, to a JSON file.

        Args:
            path: Where to write; an existing file is replaced.

        Raises:
            TypeError: As :meth:`to_dict`, before anything is written.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as root:
            ...     WordTokenizer(Vocabulary(["a"]), lowercase=False).save(f"{root}/tok.json")
            ...     WordTokenizer.load(f"{root}/tok.json").lowercase
            False
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
            ...     WordTokenizer(Vocabulary(["a"]), split=RegexSplitter()).save(f"{root}/t.json")
            ...     WordTokenizer.load(f"{root}/t.json").split == RegexSplitter()
            True
        """
        return _JSON.read(path, cls.from_dict)


def _split_from_dict(data: Mapping[str, object]) -> Splitter:
    kind = data.get("kind")
    if kind == "whitespace" and set(data) == {"kind"}:
        return WhitespaceSplitter()
    if kind == "regex" and set(data) == {"kind", "pattern"}:
        try:
            return RegexSplitter(field(data, "pattern", str))
        except ValueError as error:
            raise ValueError(f"field 'split': {error}") from error
    raise ValueError(
        "field 'split' must be {'kind': 'whitespace'} or {'kind': 'regex', 'pattern': ...}, "
        f"got {dict(data)!r}"
    )
