"""The tutorials as Jupyter notebooks, generated from the scripts (the scripts are the source).

Each notebook holds the script's docstring as a Markdown cell (its title line also as
``__doc__``), every top-level block of the script (the imports, each constant and function
with its comments) as a code cell, and a last cell that runs the tutorial, ``main([...])``
with the given command-line arguments. Nothing is committed twice: the documentation build
and the tutorial tests generate the notebooks.

Run a notebook in this folder (the kernel's working folder is on its path, as a script's
folder is): tutorial 5 imports tutorial 4.

Run it::

    python tutorials/notebooks.py notebooks/          # notebooks/01_captum_tabular.ipynb, ...
    python tutorials/notebooks.py notebooks/ --fast   # notebooks that run in fast mode
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Sequence
from pathlib import Path

import nbformat

TUTORIALS = Path(__file__).resolve().parent


def tutorial_scripts() -> list[Path]:
    """The tutorial scripts, in order (``01_*.py``, ``02_*.py``, ...)."""
    return sorted(TUTORIALS.glob("[0-9]*.py"))


def tutorial_notebook(script: Path, argv: Sequence[str] = ()) -> nbformat.NotebookNode:
    """The notebook of one tutorial script, whose last cell calls ``main(list(argv))``."""
    source = script.read_text()
    module = ast.parse(source)
    lines = source.splitlines()
    docstring = ast.get_docstring(module)
    if docstring is None or not _is_main_guard(module.body[-1]):
        raise ValueError(f"{script.name} needs a docstring and an `if __name__ == '__main__':` "
                         "block at its end, like the other tutorials")
    title = docstring.partition("\n")[0]
    cells = [nbformat.v4.new_markdown_cell(_markdown(docstring)),
             # The scripts' main() reads its title from the module docstring.
             nbformat.v4.new_code_cell(f"__doc__ = {title!r}")]
    blocks: list[list[str]] = []
    previous_end, previous_import = module.body[0].end_lineno, False
    for statement in module.body[1:-1]:
        block = lines[previous_end:statement.end_lineno]
        is_import = isinstance(statement, ast.Import | ast.ImportFrom)
        if (is_import and previous_import) or block[0].strip():  # imports, adjacent lines
            blocks[-1] += block
        else:
            blocks.append(block)
        previous_end, previous_import = statement.end_lineno, is_import
    cells += [nbformat.v4.new_code_cell("\n".join(block).strip("\n")) for block in blocks]
    cells.append(nbformat.v4.new_code_cell(f"main({list(argv)!r})"))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def _is_main_guard(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.If) and "__main__" in ast.unparse(statement.test)


def _markdown(docstring: str) -> str:
    """The docstring in Markdown: a title line, roles as code, ``::`` blocks as code blocks."""
    title, _, body = docstring.partition("\n")
    body = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", body)
    body = re.sub(r"``([^`]+)``", r"`\1`", body)
    body = body.replace("::\n", ":\n")
    return f"# {title}\n{body}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the .ipynb files")
    parser.add_argument("--fast", action="store_true", help="notebooks that run in fast mode")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for script in tutorial_scripts():
        notebook = tutorial_notebook(script, ["--fast"] if args.fast else [])
        nbformat.write(notebook, args.out / f"{script.stem}.ipynb")
        print(args.out / f"{script.stem}.ipynb")


if __name__ == "__main__":
    main()
