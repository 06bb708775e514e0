"""Issue 13 finding 1 on the front office: the gate and the portal share one trusted-proxy rule
(webapp/trusted_proxy.py); a forged header from a non-proxy address, or from the proxy without SUCCESS,
is refused and audited."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from werkzeug.test import Client

from ca.errors import BadRequestError
from ca.ledger.audit import list_events
from webapp.frontoffice import create_frontoffice
from webapp.frontoffice.gate import Gate
from webapp.trusted_proxy import Forwarded, TrustedProxy

PROXY = "10.9.8.7"


def _gate_client(world, proxies: str = PROXY) -> Client:
    settings = world.runtime.settings
    frontoffice = replace(settings.frontoffice, trusted_proxies=proxies)
    runtime = replace(world.runtime, settings=replace(settings, frontoffice=frontoffice))
    return Client(create_frontoffice(runtime, mode="proxy"))


def _refusals(runtime) -> list:
    with runtime.sessionmaker() as session:
        return [e for e in list_events(session) if e.action == "gate.refused"]


def _forged(holder, verify: str | None) -> dict[str, str]:
    headers = {"X-SSL-Client-Cert": quote(holder.certificate.public_bytes(Encoding.PEM).decode(), safe=""),
               "Accept": "application/json"}
    if verify is not None:
        headers["X-SSL-Client-Verify"] = verify
    return headers


def test_the_gate_uses_the_shared_rule(world):
    gate = _gate_client(world).application
    while not isinstance(gate, Gate):
        gate = gate.app
    assert isinstance(gate.proxy, TrustedProxy) and gate.proxy.addresses == frozenset({PROXY})


def test_forged_header_from_a_non_proxy_address_is_refused_and_audited(world):
    bob = world.issue("bob", "bob@example.com")
    response = _gate_client(world).get("/services/markets", headers=_forged(bob, "SUCCESS"),
                                       environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403 and response.json["error"] == "no_certificate"
    (event,) = _refusals(world.runtime)
    assert event.source_ip == "203.0.113.9" and "not a trusted proxy" in json.loads(event.details)["tls_error"]


@pytest.mark.parametrize("verify", [None, "NONE", "FAILED:unable to get issuer certificate", "success"])
def test_forwarded_header_from_the_proxy_without_success_is_refused(world, verify):
    bob = world.issue("bob", "bob@example.com")
    response = _gate_client(world).get("/services/markets", headers=_forged(bob, verify),
                                       environ_base={"REMOTE_ADDR": PROXY})
    assert response.status_code == 403 and response.json["error"] == "certificate_not_trusted"
    assert _refusals(world.runtime)


def test_proxy_mode_without_proxies_is_refused_at_start(world):
    with pytest.raises(BadRequestError, match="trusted proxy"):
        _gate_client(world, proxies="")


def test_the_rule_reads_the_configured_headers_whatever_their_spelling():
    """The environ keys are derived once from the configured names (`configure`), not per request: the
    verdict is the same for a name given in any case and with spaces, from the peer ProxyFix saw first."""
    proxy = TrustedProxy.configure(addresses=f" {PROXY} ,", cert_header=" x-ssl-CLIENT-cert ",
                                   verify_header="X-SSL-Client-Verify", where="test")
    assert (proxy.cert_key, proxy.verify_key) == ("HTTP_X_SSL_CLIENT_CERT", "HTTP_X_SSL_CLIENT_VERIFY")
    sent = {"HTTP_X_SSL_CLIENT_CERT": "pem", "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS"}
    assert proxy.forwarded({**sent, "REMOTE_ADDR": PROXY}) == Forwarded("pem", None)
    assert proxy.forwarded({**sent, "REMOTE_ADDR": PROXY, "HTTP_X_SSL_CLIENT_VERIFY": "FAILED:expired"}) == (
        Forwarded("pem", "expired"))
    assert proxy.forwarded({"HTTP_X_SSL_CLIENT_CERT": "pem", "REMOTE_ADDR": PROXY}).refusal is not None
    assert proxy.forwarded({"REMOTE_ADDR": PROXY}) == Forwarded("", None)
    stranger = proxy.forwarded({**sent, "REMOTE_ADDR": "203.0.113.9"})
    assert stranger.certificate == "" and "not a trusted proxy" in (stranger.refusal or "")
    assert proxy.forwarded({"REMOTE_ADDR": "203.0.113.9"}) == Forwarded("", None)
    # Behind werkzeug's ProxyFix, the TCP peer is the address it saw before rewriting REMOTE_ADDR.
    fixed = {**sent, "REMOTE_ADDR": "198.51.100.1", "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": PROXY}}
    assert proxy.forwarded(fixed) == Forwarded("pem", None)
    off = TrustedProxy.configure(addresses="", cert_header="", verify_header="X-SSL-Client-Verify", where="test")
    assert not off.enabled and off.forwarded({**sent, "REMOTE_ADDR": PROXY}) == Forwarded("", None)
