"""Sphinx configuration: the API reference from the docstrings, the README's guide, the
definitions page and the tutorials as notebooks (generated from the scripts at build time).

``make docs`` builds it with warnings as errors (``sphinx-build -W``) into ``docs/_build``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.transforms import Transform

import captum_interactions

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tutorials"))  # a folder of scripts, not a package
from notebooks import tutorial_notebook, tutorial_scripts  # noqa: E402

project = "captum-interactions"
author = "captum-interactions developers"
release = version = captum_interactions.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"captum-interactions {version}"

myst_enable_extensions = ["deflist", "dollarmath"]
myst_heading_anchors = 3
# The notebooks are rendered, not run: the tutorial tests execute them in fast mode.
nb_execution_mode = "off"

# An annotation ``torch.device`` has no target here (no network for intersphinx), and its
# last part matches the adapters' ``device`` properties: "more than one target" for a type
# that is not ours. Ambiguous references still link to one of their targets.
suppress_warnings = ["ref.python"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

#: The public packages, most public first: a name is documented under the first that
#: exports it (``captum_interactions.InteractionResult``, not ``...result.InteractionResult``).
PACKAGES = (
    "captum_interactions",
    "captum_interactions.adapters",
    "captum_interactions.graphs",
    "captum_interactions.runs",
)


def public_modules() -> list[str]:
    """The packages, then every public module below them (no ``_``-named part)."""
    found = list(PACKAGES)
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        for info in pkgutil.iter_modules(path, prefix=f"{package}."):
            if not info.name.rpartition(".")[2].startswith("_") and info.name not in found:
                found.append(info.name)
    return found


def write_api_pages(folder: Path) -> list[str]:
    """One page per public module with the names in its ``__all__`` that no module before it
    documents: new public names appear without editing the docs."""
    shutil.rmtree(folder, ignore_errors=True)  # no page of a module that is gone
    folder.mkdir()
    documented: set[tuple[str, int]] = set()  # (name, object): a re-export is the same
    pages = []
    for name in public_modules():
        module = importlib.import_module(name)
        names = [n for n in getattr(module, "__all__", ()) if not n.startswith("__")]
        keys = {n: (n, id(getattr(module, n))) for n in names}
        fresh = [n for n in names if keys[n] not in documented]
        documented.update(keys.values())
        kind = "package" if hasattr(module, "__path__") else "module"
        members = f"   :members: {', '.join(fresh)}\n" if fresh else ""
        text = (f"``{name}``\n{'=' * (len(name) + 4)}\n\n"
                f".. automodule:: {name}\n{members}")
        if inspect.getdoc(module) is None:
            raise ValueError(f"the public {kind} {name} has no docstring")
        (folder / f"{name}.rst").write_text(text)
        pages.append(name)
    return pages


class AbsoluteValues(Transform):
    """Render ``|x|`` in docstrings as written: the docstrings use it for absolute values and
    set sizes, which reStructuredText would read as an undefined substitution."""

    default_priority = 205  # before the substitutions are resolved (210, 220)

    def apply(self) -> None:
        defined = {*self.document.substitution_defs, "version", "release", "today",
                   "translation progress"}
        for node in list(self.document.findall(nodes.substitution_reference)):
            if node["refname"] not in defined:
                node.replace_self(nodes.Text(f"|{node.astext()}|"))


def setup(app) -> None:
    app.add_transform(AbsoluteValues)


def write_notebooks(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    import nbformat

    for script in tutorial_scripts():
        nbformat.write(tutorial_notebook(script), folder / f"{script.stem}.ipynb")


write_notebooks(DOCS / "tutorials")
(DOCS / "api.rst").write_text(
    "API reference\n=============\n\nEvery public name, under the module that exports it "
    "(the packages re-export the names of their modules).\n\n.. toctree::\n   :maxdepth: 1\n\n"
    + "".join(f"   api/{page}\n" for page in write_api_pages(DOCS / "api"))
)
