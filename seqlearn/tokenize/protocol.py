"""What every seqlearn tokenizer offers, and rebuilding one from its saved settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import Protocol, runtime_checkable

from seqlearn.tokenize.char import CharTokenizer
from seqlearn.tokenize.word import WordTokenizer

__all__ = ["Tokenizer", "tokenizer_from_dict"]


@runtime_checkable
class Tokenizer(Protocol):
    """A tokenizer: texts to ids and back, and its settings as a JSON-ready dictionary.

    :class:`~seqlearn.tokenize.CharTokenizer` and :class:`~seqlearn.tokenize.WordTokenizer`
    are tokenizers; models saved with their tokenizer (see :mod:`seqlearn.artifacts`) keep
    its :meth:`to_dict` and rebuild it with :func:`tokenizer_from_dict`.

    Example:
        >>> from seqlearn.tokenize import CharTokenizer
        >>> isinstance(CharTokenizer(), Tokenizer)
        True
    """

    @property
    def vocab_size(self) -> int:
        """The number of ids ``V``."""
        ...

    def encode(self, text: str) -> list[int]:
        """The ids of a text."""
        ...

    def to_dict(self) -> dict[str, object]:
        """The settings, tagged with a ``"format"`` field naming the tokenizer's class."""
        ...


_FORMATS: dict[str, Callable[[Mapping[str, object]], Any]] = {
    "seqlearn.CharTokenizer": CharTokenizer.from_dict,
    "seqlearn.WordTokenizer": WordTokenizer.from_dict,
}


def tokenizer_from_dict(data: object) -> CharTokenizer | WordTokenizer:
    """Rebuild a tokenizer from its :meth:`~Tokenizer.to_dict`, whichever kind it is.

    Args:
        data: The settings, as read from JSON.

    Returns:
        The tokenizer that the ``"format"`` field names.

    Raises:
        ValueError: If ``data`` is not a mapping, names no known format, or its fields are
            wrong (naming the field).

    Example:
        >>> from seqlearn.tokenize import CharTokenizer
        >>> tokenizer_from_dict(CharTokenizer("ab").to_dict())
        CharTokenizer('ab', bos=False, pad=False, unk=False, oov='error', fold_unicode=True)
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping of tokenizer settings, got {type(data).__name__}")
    kind = data.get("format")
    if kind not in _FORMATS:
        raise ValueError(
            f"field 'format' is {kind!r}; expected one of {sorted(_FORMATS)} (a tokenizer "
            "of your own is not saved with the model: pass it to the predictor yourself)"
        )
    tokenizer: CharTokenizer | WordTokenizer = _FORMATS[str(kind)](data)
    return tokenizer
