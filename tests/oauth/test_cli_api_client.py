"""`pkictl api-client create|list|revoke`: what it prints, and one `error:` line that changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from ca.ledger.api_client_models import ApiClient
from enrollment.api_clients.credentials import secret_matches
from enrollment.api_clients.registration import find_client
from tests.cli.test_cli import ok, refused, run
from tests.conftest import EIC


def _count(runtime) -> int:
    with runtime.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(ApiClient))


def test_create_prints_client_id_and_secret_once(runner, runtime):
    out = ok(run(runner, "api-client", "create", "--company", EIC, "--name", "ERP",
                 "--scope", "certificates:read certificates:revoke"))
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert set(lines) == {"client_id", "client_secret"}
    view = find_client(runtime, lines["client_id"])
    assert view is not None and view.scopes == ("certificates:read", "certificates:revoke")
    assert secret_matches(view, lines["client_secret"]) and not secret_matches(view, "other")
    listed = json.loads(ok(run(runner, "api-client", "list", "--format", "json")))
    assert [c["client_id"] for c in listed] == [lines["client_id"]]
    assert lines["client_secret"] not in json.dumps(listed)
    ok(run(runner, "api-client", "revoke", lines["client_id"]))
    assert find_client(runtime, lines["client_id"]) is None
    refused(run(runner, "api-client", "revoke", lines["client_id"]), "already revoked")


def test_tls_client_auth_prints_no_secret(runner, runtime):
    out = ok(run(runner, "api-client", "create", "--company", EIC, "--name", "Gateway", "--scope", "users:read",
                 "--tls-client-auth", "--tls-san-dns", "gw.example.com"))
    assert out.startswith("client_id: ") and "client_secret" not in out


@pytest.mark.parametrize(("args", "fragment"), [
    (["--scope", "certificates:read admin"], "unknown scope"),
    (["--scope", ""], "at least one scope"),
    (["--scope", "users:read", "--tls-client-auth"], "exactly one"),
    (["--scope", "users:read", "--tls-subject", "CN=x"], "need --tls-client-auth"),
    (["--scope", "users:read", "--tls-client-auth", "--tls-subject", "not a dn"], "RFC 4514"),
    (["--scope", "users:read", "--tls-client-auth", "--tls-certificate", "/nonexistent.pem"], "not found"),
])
def test_create_refusals_change_nothing(runner, runtime, args, fragment):
    refused(run(runner, "api-client", "create", "--company", EIC, "--name", "X", *args), fragment)
    assert _count(runtime) == 0


def test_unknown_company_is_refused(runner, runtime):
    refused(run(runner, "api-client", "create", "--company", "10X1001A1001A450", "--name", "X",
                "--scope", "users:read"))
    assert _count(runtime) == 0
