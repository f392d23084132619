"""Sphinx configuration for seqlearn's documentation.

Build (warnings are errors, as in CI)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import os
import pkgutil
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.ext.napoleon.docstring import GoogleDocstring
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the checkout, not some installed copy

import seqlearn  # noqa: E402

logger = logging.getLogger(__name__)

project = "seqlearn"
author = "The seqlearn developers"
copyright = "The seqlearn developers"  # no year: the build does not depend on the date
release = seqlearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",  # docs/benchmarks.md is Markdown
]
exclude_patterns = ["_build", "_inventories"]

# -- cross-references: every one must resolve, or the build fails -------------------------
# CI reaches package registries and nothing else, so no inventory may be fetched while
# building. Python's comes from a file in docs/_inventories/: the objects.inv of Debian's
# python3.11-doc package, unmodified (README.txt there says how to get it again, and
# PSF-LICENSE.txt is the licence it is distributed under). Neither PyPI nor Debian ships
# an inventory of PyTorch's or NumPy's documentation, and none is made up here: their
# inventories are used when the building machine can reach them (a documentation host, a
# developer's machine), and left out, without a warning, where it cannot (CI). Either way
# their names (torch.Tensor, torch.nn.Module, numpy.ndarray, ...) are exempt from
# nitpicky's check by the rules below, and nothing else is. The type variables of the
# generic classes (StateT, BatchT, ...) have no pages of their own either.
nitpicky = True
intersphinx_mapping: dict[str, tuple[str, str | None]] = {
    "python": ("https://docs.python.org/3.11", "_inventories/python-3.11.inv"),
}
ONLINE_INVENTORIES = {
    "torch": "https://pytorch.org/docs/stable",
    "numpy": "https://numpy.org/doc/stable",
}


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether ``url``'s objects.inv answers; ``SEQLEARN_DOCS_OFFLINE=1`` skips the try."""
    if os.environ.get("SEQLEARN_DOCS_OFFLINE"):
        return False
    try:
        with urllib.request.urlopen(f"{url}/objects.inv", timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


for _name, _url in ONLINE_INVENTORIES.items():
    if _reachable(_url):
        intersphinx_mapping[_name] = (_url, None)
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|numpy)(\..*)?"),
    (r"py:class", r"Tensor"),  # torch.Tensor, as the annotations name it
    (r"py:class", r"typing_extensions\.\w+"),  # typing_extensions has no inventory either
    (
        r"py:(class|obj)",
        r"(seqlearn\.[\w.]+\.)?(StateT|ForwardStateT|BackwardStateT|BatchT|ModelT|TokenizerT|T)(_contra)?",
    ),
    # Annotations of NamedTuple fields reach autodoc as the strings written in the module
    # ("nn.Module" for torch.nn.Module, "Path" for pathlib.Path).
    (r"py:class", r"nn\.\w+"),
    (r"py:class", r"Path"),
    # Private base classes (a leading underscore) share code and have no pages.
    (r"py:class", r"seqlearn(\.\w+)*\._\w+"),
]

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
    "seqlearn.artifacts",
]


def _public_data_docs() -> dict[str, tuple[str, list[str]]]:
    """Docstrings of the public constants and type aliases, keyed by their public name,
    with the module that assigns them.

    A constant's docstring is the string literal under its assignment, which autodoc reads
    from the module that assigns it; the API pages document it under the subpackage that
    re-exports it, so look it up in the subpackage's modules.
    """
    docs: dict[str, tuple[str, list[str]]] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        public = set(module.__all__)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            analyzer = ModuleAnalyzer.for_module(info.name)
            for (namespace, name), lines in analyzer.find_attr_docs().items():
                if namespace == "" and name in public:
                    docs.setdefault(f"{package}.{name}", (info.name, list(lines)))
    return docs


DATA_DOCS = _public_data_docs()


def _data_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    if what == "data" and name in DATA_DOCS:
        # Sections ("Example:") as napoleon writes them for functions; as "module", since for
        # "data" napoleon would read the first line as "type: description".
        docstring = GoogleDocstring(DATA_DOCS[name][1], app.config, app, "module", name, obj)
        lines[:] = docstring.lines()


def _run_data_examples(app: Sphinx) -> None:
    """Run the examples in the docstrings of the public constants and type aliases.

    ``pytest --doctest-modules`` runs the examples of modules, classes and functions, but a
    constant's docstring is a string literal that Python does not keep, so the build runs
    those, each in the namespace of the module that assigns the constant, as pytest would.
    A failing example is a warning, which ``-W`` turns into a failed build.
    """
    parser = doctest.DocTestParser()
    for name, (module_name, lines) in DATA_DOCS.items():
        module = importlib.import_module(module_name)
        source = inspect.getsource(module).splitlines()
        assignment = re.compile(rf"{name.rsplit('.', 1)[1]}\s*[:=]")
        assigned = next(i for i, line in enumerate(source) if assignment.match(line))
        opening = next(i for i in range(assigned, len(source)) if source[i].startswith('"""'))
        text = "\n".join(lines)
        test = parser.get_doctest(text, dict(vars(module)), name, module.__file__, opening)
        report = io.StringIO()
        if doctest.DocTestRunner().run(test, out=report.write).failed:
            logger.warning("the example in the docstring of %s fails:\n%s", name, report.getvalue())


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
    app.connect("builder-inited", _run_data_examples)
    app.connect("autodoc-process-docstring", _keep_first_line, priority=550)  # after napoleon
    app.connect("autodoc-process-docstring", _data_docstring, priority=600)  # after napoleon
    app.connect("autodoc-skip-member", _skip_member)
