"""Unicode folding: strip accents so that names such as 'Nuñez' fit an ASCII alphabet."""

from __future__ import annotations

import unicodedata

__all__ = ["fold_to_ascii"]


def fold_to_ascii(text: str) -> str:
    """Fold accented characters to their base letters, as the lecture's ``unicode_to_ascii``.

    The text is put in Unicode normal form D (each accented letter split into its base letter
    and combining marks) and every nonspacing combining mark (category ``Mn``) is dropped.
    Unlike the lecture's function, characters are never removed for being outside an
    alphabet: characters that have no such decomposition stay as they are (``'ß'`` stays
    ``'ß'``); what to do with them is the tokenizer's out-of-vocabulary policy.

    Args:
        text: Any string.

    Returns:
        The folded string; ASCII text comes back unchanged.

    Example:
        >>> fold_to_ascii("Åsa Nuñez-Ślusàrski")
        'Asa Nunez-Slusarski'
        >>> fold_to_ascii("Strauß")
        'Strauß'
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
