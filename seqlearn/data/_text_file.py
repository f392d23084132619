"""Reading a UTF-8 text file for a parser that reports errors by file and line (private)."""

from __future__ import annotations

import re
from pathlib import Path

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_error(path: Path, line: int, message: str) -> ValueError:
    """A :class:`ValueError` saying ``"<path>, line <line>: <message>"`` (lines from 1)."""
    return ValueError(f"{path}, line {line}: {message}")


def read_text(path: Path) -> str:
    """The file decoded as UTF-8 (strict), with one leading byte-order mark dropped.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not UTF-8; the message gives the line.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise line_error(path, line, f"not valid UTF-8 ({exc.reason})") from exc
    return text.removeprefix("\ufeff")


def read_lines(path: Path) -> list[str]:
    """The file's lines without their ends (``\\r\\n``, ``\\n`` or ``\\r``); line ``i + 1`` is
    item ``i``. A final line end does not start an extra line.
    """
    return split_lines(read_text(path))


def split_lines(text: str) -> list[str]:
    """``text``'s lines without their ends (``\\r\\n``, ``\\n`` or ``\\r``); a final line end
    does not start an extra line."""
    if not text:
        return []
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def content_lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank lines, each with its 1-based line number."""
    return [(number, line) for number, line in enumerate(read_lines(path), 1) if line.strip()]
