"""External tools and optional parts, found one way: a test that needs one skips with the reason, except
under CI=true, where it fails (`make test` installs every tool the suite needs)."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

# The interpreter running the tests is the project's virtual environment: its console scripts live beside it.
VENV_BIN = Path(sys.executable).parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, message: str) -> None:
    """Skip with `message` when `condition` is false, or fail under CI."""
    if not condition:
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def require_tool(name: str) -> str:
    """Path of `name` (PATH first, then the running virtual environment)."""
    path = shutil.which(name) or shutil.which(name, path=str(VENV_BIN))
    require(path is not None,
            f"{name} is not installed (make test installs it with apt-get when run as root on Debian)")
    assert path is not None
    return path


def require_module(name: str) -> ModuleType:
    """An optional Python package of the test extra (pip install -e '.[test]')."""
    try:
        return importlib.import_module(name)
    except ImportError:
        require(False, f"{name} is not installed (pip install -e '.[test]')")
        raise
