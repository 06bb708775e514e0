"""Fixtures of the gate tests: a world (company, people, groups) on the parametrized ledger backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ca.clock import FixedClock
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from tests.frontoffice.world import World, build_world
from tests.support.pki import SessionPKI, make_session_pki


def make_runtime(environ: dict[str, str], clock: FixedClock, **frontoffice: str) -> Runtime:
    overrides = {f"PKI_FRONTOFFICE__{name.upper()}": value for name, value in frontoffice.items()}
    return build_runtime(load_settings(None, {**environ, **overrides}), clock)


@pytest.fixture
def world(environ: dict[str, str], clock: FixedClock, session_pki: SessionPKI, tmp_path: Path) -> Iterator[World]:
    """No decision cache, so each call reads the ledger; refusal events throttled per the default."""
    runtime = make_runtime(environ, clock, decision_cache_ms="0")
    try:
        yield build_world(runtime, session_pki, tmp_path / "certs")
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> SessionPKI:
    """Another CA with the same names as ours (root and issuer) but its own keys."""
    return make_session_pki(tmp_path_factory.mktemp("foreign-pki"))
