"""Settings as JSON, shared by the tokenizers and the vocabulary (private).

A class that saves itself declares its :class:`JsonFormat` once; its ``to_dict`` starts with
:meth:`JsonFormat.header`, its ``from_dict`` calls :meth:`JsonFormat.check` and reads each
field with :func:`field`, and its ``save`` and ``load`` are :meth:`JsonFormat.write` and
:meth:`JsonFormat.read`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from typing_extensions import final

__all__ = ["JsonFormat", "field", "str_or_none_field"]

_T = TypeVar("_T")


@final
@dataclass(frozen=True)
class JsonFormat:
    """A class's ``"format"`` name and ``"version"``, the fields after them, its file layout."""

    name: str
    version: int
    fields: tuple[str, ...]
    indent: int
    ensure_ascii: bool = True

    def header(self) -> dict[str, object]:
        """The ``"format"`` and ``"version"`` fields that start the class's dictionary."""
        return {"format": self.name, "version": self.version}

    def check(self, data: object) -> None:
        """Check that ``data`` is a mapping with this format's tags and no unknown field.

        Raises:
            ValueError: If it is not, naming the field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping of fields, got {type(data).__name__}")
        if field(data, "format", str) != self.name:
            raise ValueError(f"field 'format' is {data['format']!r}, expected {self.name!r}")
        if field(data, "version", int) != self.version:
            raise ValueError(f"field 'version' is {data['version']!r}, expected {self.version}")
        expected = ["format", "version", *self.fields]
        unknown = sorted(set(data) - set(expected))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; expected only {expected}")

    def write(self, path: str | os.PathLike[str], data: Mapping[str, object]) -> None:
        """Write ``data`` to a JSON file, replacing an existing one."""
        text = json.dumps(data, indent=self.indent, ensure_ascii=self.ensure_ascii)
        Path(path).write_text(text + "\n", encoding="utf-8")

    def read(
        self, path: str | os.PathLike[str], from_dict: Callable[[Mapping[str, object]], _T]
    ) -> _T:
        """``from_dict`` of a JSON file's contents.

        Raises:
            OSError: If the file cannot be read.
            ValueError: If it is not valid JSON or ``from_dict`` rejects it, naming the file.
        """
        try:
            return from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{os.fspath(path)}: {error}") from error


def field(data: Mapping[str, object], name: str, kind: type[_T]) -> _T:
    """Field ``name`` of ``data``, a ``kind`` (a bool is no ``int``).

    Raises:
        ValueError: If the field is missing or of another type, naming it.
    """
    if name not in data:
        raise ValueError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {name!r} must be a {kind.__name__}, got {value!r}")
    return value


def str_or_none_field(data: Mapping[str, object], name: str) -> str | None:
    """Field ``name`` of ``data``, a string or ``None`` (JSON's ``null``).

    Raises:
        ValueError: If the field is missing or of another type, naming it.
    """
    if name not in data:
        raise ValueError(f"missing field {name!r}")
    value = data[name]
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a str or null, got {value!r}")
    return value
