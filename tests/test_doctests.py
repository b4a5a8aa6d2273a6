"""Every module's docstring examples run: they are the worked examples the style asks for, so they must
stay true as the code changes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("bundlebot", "retrieval", "assistant", "finetune", "evaluation", "ui")


def _modules() -> list[str]:
    out = []
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        # walk_packages: subpackages and their modules too (assistant/languages)
        out += [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}.")
                if not m.name.endswith(".__main__")]
    return sorted(out)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
