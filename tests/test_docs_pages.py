"""The docs pages written as doctests run as they are shown (``>>>`` examples in .rst)."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = {
    "saving.rst": ["onnx", "onnxscript", "onnxruntime"],
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_page_runs_as_shown(page: str) -> None:
    missing = [name for name in PAGES[page] if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"docs/{page} needs {missing}: pip install -e '.[export]'")
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {page} fail"
