"""Every module of the package imports in a plain install: no undeclared dependency hides in a corner.

CI runs this in a brand-new virtualenv holding only what pyproject.toml declares, so a module-level import of a
package that is not declared (scipy once was) fails here, not on a new user's machine. Optional backends
(OpenVINO, TensorRT) are imported lazily inside functions and are not needed to import any module.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import gaitcompress
import gaitlab

MODULES = sorted(
    m.name for pkg in (gaitcompress, gaitlab) for m in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + ".")
)


def test_the_walk_finds_the_package():
    assert len(MODULES) > 50 and "gaitcompress.cli" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)
