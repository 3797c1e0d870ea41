"""Run every docstring example of the installed package (including adapters and graphs)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import captum_interactions
from captum_interactions import MissingDependencyError


def _modules() -> list[str]:
    names = ["captum_interactions"]
    for info in pkgutil.walk_packages(captum_interactions.__path__, "captum_interactions."):
        names.append(info.name)
    for sub in ("adapters", "graphs"):
        package = importlib.import_module(f"captum_interactions.{sub}")
        names.append(package.__name__)
        names.extend(
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        )
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except MissingDependencyError as error:  # a module of an optional extra (shapiq_game)
        pytest.skip(str(error))
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, extraglobs={"torch": importlib.import_module("torch")}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
