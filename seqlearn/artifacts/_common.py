"""Checking and encoding the texts given to predictors (private)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["UnencodableTextError", "check_texts", "encode_all"]


class UnencodableTextError(ValueError):
    """Some texts cannot be encoded by the model's tokenizer, so no prediction is made.

    Attributes:
        indices: The positions of the texts that cannot be encoded, in the order given.

    Example:
        >>> error = UnencodableTextError([2], ["texts[2] 'Ωμέγα': no id"])
        >>> error.indices, str(error)
        ([2], "1 text cannot be encoded by the model's tokenizer: texts[2] 'Ωμέγα': no id")
    """

    def __init__(self, indices: list[int], reasons: list[str]) -> None:
        count = f"{len(indices)} text" + ("s" if len(indices) > 1 else "")
        shown = "; ".join(reasons[:5]) + ("; ..." if len(reasons) > 5 else "")
        super().__init__(f"{count} cannot be encoded by the model's tokenizer: {shown}")
        self.indices = indices


def check_texts(texts: object) -> Sequence[str]:
    """``texts`` as a sequence of strings; a single string is refused."""
    if isinstance(texts, str):
        raise TypeError("expected a sequence of texts, got a single str; wrap it in a list")
    if not isinstance(texts, Sequence):
        raise TypeError(f"expected a sequence of texts, got {type(texts).__name__}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is a {type(text).__name__}, not a str")
    return texts


def encode_all(texts: Sequence[str], encode: Callable[[str], list[int]]) -> list[list[int]]:
    """The ids of every text.

    Raises:
        UnencodableTextError: Naming every text that ``encode`` refuses or maps to no ids.
    """
    rows: list[list[int]] = []
    bad: list[int] = []
    reasons: list[str] = []
    for index, text in enumerate(texts):
        try:
            ids = encode(text)
        except ValueError as error:
            ids, why = [], str(error)
        else:
            why = "none of its characters (or words) is in the tokenizer's vocabulary"
        if not ids:
            bad.append(index)
            reasons.append(f"texts[{index}] {text[:40]!r}: {why or 'empty'}")
        rows.append(ids)
    if bad:
        raise UnencodableTextError(bad, reasons)
    return rows
