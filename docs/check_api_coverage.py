"""Check that the API pages document every public name of every subpackage.

Reads the ``.. currentmodule::`` and ``.. auto<kind>::`` directives of ``docs/api/*.rst``
and compares the names they document with each subpackage's ``__all__``; also checks that
every name the top-level ``seqlearn`` package re-exports is documented in a subpackage.
Needs no build. Exits 1 and lists the missing (or doubly documented) names.

Usage: ``python docs/check_api_coverage.py``
"""

from __future__ import annotations

import importlib
import re
import sys
from collections import Counter
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

SUBPACKAGES = [
    "seqlearn.tokenize",
    "seqlearn.data",
    "seqlearn.nn",
    "seqlearn.train",
    "seqlearn.decode",
    "seqlearn.artifacts",
]
DIRECTIVE = re.compile(r"^\.\. (currentmodule|auto\w+)::\s*(\S+)\s*$")


def documented() -> Counter[str]:
    """Full names documented by autodoc directives in the API pages, with their counts."""
    names: Counter[str] = Counter()
    for page in sorted((DOCS / "api").glob("*.rst")):
        module = ""
        for line in page.read_text(encoding="utf-8").splitlines():
            match = DIRECTIVE.match(line)
            if match is None:
                continue
            kind, name = match.groups()
            if kind in ("currentmodule", "automodule"):
                module = name
            else:
                names[name if name.startswith("seqlearn.") else f"{module}.{name}"] += 1
    return names


def main() -> int:
    names = documented()
    public = {
        f"{package}.{name}": name
        for package in SUBPACKAGES
        for name in importlib.import_module(package).__all__
    }
    missing = sorted(full for full in public if full not in names)
    twice = sorted(full for full, count in names.items() if count > 1)
    reexported = importlib.import_module("seqlearn").__all__
    modules = {"__version__", *(package.rsplit(".", 1)[1] for package in SUBPACKAGES)}
    exported = set(public.values()) | modules
    missing += [
        f"seqlearn.{name} (in no subpackage)" for name in reexported if name not in exported
    ]
    for label, items in (("not documented", missing), ("documented more than once", twice)):
        if items:
            print(f"{label}:\n  " + "\n  ".join(items))
    if missing or twice:
        return 1
    print(f"all {len(public)} public names of {len(SUBPACKAGES)} subpackages are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
