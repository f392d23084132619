"""Sphinx configuration for seqlearn's documentation.

Build (warnings are errors, as in CI)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the checkout, not some installed copy

import seqlearn  # noqa: E402

project = "seqlearn"
author = "The seqlearn developers"
copyright = "The seqlearn developers"  # no year: the build does not depend on the date
release = seqlearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",  # docs/benchmarks.md is Markdown
]
exclude_patterns = ["_build"]
nitpicky = False  # torch's names cannot resolve without intersphinx (no network in CI)

# -- autodoc and napoleon (Google style) --------------------------------------------------
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
# Show defaults as written ("make_optimizer=_sgd", not "<function _sgd at 0x...>", which
# breaks the signature's parsing) and name the callable alias rather than expanding it.
autodoc_preserve_defaults = True
autodoc_type_aliases = {"OptimizerFactory": "seqlearn.train.lr_finder.OptimizerFactory"}
python_maximum_signature_line_length = 88  # one parameter a line for long signatures
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields, not a second description of the field
napoleon_custom_sections = ["Shape"]
python_use_unqualified_type_names = True

# -- HTML ----------------------------------------------------------------------------------
try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:  # the "docs" extra should install furo; build anyway without it
    html_theme = "alabaster"
html_title = f"seqlearn {release}"
html_static_path: list[str] = []
html_last_updated_fmt: str | None = None

PACKAGES = [
    "seqlearn.tokenize",
    "seqlearn.data",
    "seqlearn.nn",
    "seqlearn.train",
    "seqlearn.decode",
]


def _public_data_docs() -> dict[str, list[str]]:
    """Docstrings of the public constants and type aliases, keyed by their public name.

    A constant's docstring is the string literal under its assignment, which autodoc reads
    from the module that assigns it; the API pages document it under the subpackage that
    re-exports it, so look it up in the subpackage's modules.
    """
    docs: dict[str, list[str]] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        public = set(module.__all__)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            analyzer = ModuleAnalyzer.for_module(info.name)
            for (namespace, name), lines in analyzer.find_attr_docs().items():
                if namespace == "" and name in public:
                    docs.setdefault(f"{package}.{name}", list(lines))
    return docs


DATA_DOCS = _public_data_docs()


def _data_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what == "data" and name in DATA_DOCS:
        lines[:] = DATA_DOCS[name]


def _keep_first_line(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    # Types live in annotations, yet napoleon reads a property's first line "X: y" as
    # "type: description"; put such a line back together.
    if what in ("property", "attribute", "data") and lines and lines[-1].startswith(":type: "):
        inline = lines.pop().removeprefix(":type: ")
        while lines and not lines[-1]:
            lines.pop()
        lines[:1] = [f"{inline}: {lines[0]}" if lines else inline]


def _skip_member(
    app: Sphinx, what: str, name: str, obj: Any, skip: bool, options: Any
) -> bool | None:
    # A NamedTuple's fields are described in its docstring ("Shape:" or "Attributes:"),
    # which their generated "Alias for field number N" entries would only repeat; and
    # extra_repr is torch.nn.Module's printing hook, documented by torch's docstring.
    doc = getattr(obj, "__doc__", None) or ""
    if what == "class" and (doc.startswith("Alias for field number") or name == "extra_repr"):
        return True
    return None


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _keep_first_line, priority=550)  # after napoleon
    app.connect("autodoc-process-docstring", _data_docstring, priority=600)  # after napoleon
    app.connect("autodoc-skip-member", _skip_member)
