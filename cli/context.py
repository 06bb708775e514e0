"""What every command shares: settings from --config, a lazily built Runtime, the operator Actor."""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from ca.actor import Actor, cli_operator
from ca.errors import BadRequestError, NotFoundError
from ca.runtime import Runtime, build_runtime
from ca.settings import Settings, load_settings
from revocation.ocsp import attach_presigner


@dataclass
class CLIContext:
    config: str | None
    _settings: Settings | None = None
    _runtime: Runtime | None = None
    # Only `quickstart` sets this: every other command refuses a directory without a ledger (ca.runtime).
    create_ledger: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config, os.environ)
        return self._settings

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = attach_presigner(build_runtime(self.settings, create=self.create_ledger))
        return self._runtime

    @property
    def actor(self) -> Actor:
        return cli_operator(getpass.getuser())

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


pass_ctx = click.make_pass_decorator(CLIContext)


def read_input_file(path: str) -> bytes:
    """`-` reads standard input; any other value is a file path."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise BadRequestError(f"{path} is a directory") from None
