"""Refused ACME requests (issue 12): counted by problem type in `pki_acme_refusals_total{type}` at the
server's /metrics, and audited with the account and its company only when the JWS verified against a
registered account's key (enrollment/acme_server/refusals.py says why), against the real HTTPS server."""

from __future__ import annotations

import re

import josepy as jose
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import cli_operator
from ca.audit_trail import company_audit_trail
from tests.acme.conftest import AcmeWorld
from tests.acme.raw import RawClient, new_key
from tests.conftest import EIC

ACTION = "acme.request.refused"


def _refusals(world: AcmeWorld) -> list[dict]:
    return [e.details | {"actor": e.actor} for e in
            company_audit_trail(world.runtime, cli_operator("pytest"), company_eic=EIC) if e.action == ACTION]


def _counts(client: RawClient) -> dict[str, float]:
    text = client.get(client.directory["newNonce"].replace("/acme/new-nonce", "/metrics")).body.decode()
    return {kind: float(value) for kind, value in
            re.findall(r'^pki_acme_refusals_total\{type="(\w+)"\} ([\d.e+]+)$', text, re.MULTILINE)}


def test_verified_refusals_are_audited_with_their_account(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    assert client.register().status == 201
    account = "acme:account/" + client.kid.rsplit("/", 1)[1]
    before = _counts(client)

    body = client.sign(client.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.example.test"}]})
    assert client.post_body(client.directory["newOrder"], body).status == 201
    assert client.post_body(client.directory["newOrder"], body).problem_type == "badNonce"  # replayed
    assert client.order("evil.invalid").problem_type == "rejectedIdentifier"

    refused = _refusals(acme_world)  # newest first
    assert [(r["type"].rsplit(":", 1)[1], r["actor"]) for r in refused] == \
        [("rejectedIdentifier", account), ("badNonce", account)], refused
    assert refused[0]["request"] == "POST /acme/new-order" and refused[0]["status"] == 400
    after = _counts(client)
    for kind in ("badNonce", "rejectedIdentifier"):
        assert after[kind] == before.get(kind, 0) + 1, (before, after)


def test_unverified_refusals_are_counted_not_audited(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    assert client.register().status == 201
    before, audited = _counts(client), len(_refusals(acme_world))

    # A forged request in the account's name (its kid, another key): the signature does not verify.
    forged = client.post(client.directory["newOrder"], {"identifiers": []}, key=new_key()[0])
    assert forged.status in (400, 403) and forged.problem_type in ("malformed", "unauthorized"), forged.body
    # The same forgery with a stale nonce: a badNonce nobody can be held to.
    stale = client.post(client.directory["newOrder"], {"identifiers": []}, key=new_key()[0], nonce="AAAA")
    assert stale.problem_type == "badNonce"
    # A new key without External Account Binding: no account, nobody known.
    stranger = RawClient(acme_world)
    assert stranger.register(with_eab=False).problem_type == "externalAccountRequired"

    assert len(_refusals(acme_world)) == audited  # nothing written to the audit trail
    after = _counts(client)
    assert after["badNonce"] == before.get("badNonce", 0) + 1
    assert after["externalAccountRequired"] == before.get("externalAccountRequired", 0) + 1
    assert after[forged.problem_type] == before.get(forged.problem_type, 0) + 1, (before, after)


def test_unauthorized_revocation_is_audited(acme_world: AcmeWorld) -> None:
    """revokeCert by an account for a certificate its company does not hold (the ACME server's own
    tls-server certificate, held by no company): `unauthorized`, audited with the account."""
    client = RawClient(acme_world)
    assert client.register().status == 201
    chain = (acme_world.log.parent.parent / "acme" / "server-chain.pem").read_bytes()
    server_cert = x509.load_pem_x509_certificate(chain)
    der = jose.b64encode(server_cert.public_bytes(Encoding.DER)).decode()
    reply = client.post(client.directory["revokeCert"], {"certificate": der})
    assert (reply.status, reply.problem_type) == (403, "unauthorized"), reply.body
    refused = _refusals(acme_world)
    assert refused[0]["type"].endswith(":unauthorized") and refused[0]["request"] == "POST /acme/revoke-cert"
    assert refused[0]["actor"] == "acme:account/" + client.kid.rsplit("/", 1)[1]
