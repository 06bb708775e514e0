"""External tools: a test that needs one skips with the reason, except under CI=true where it fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Path of `name` (PATH first, then the project's venv); skip, or fail under CI, when absent."""
    path = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if path is None:
        message = f"{name} is not installed (make test installs it with apt-get when run as root on Debian)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path
