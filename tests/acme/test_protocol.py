"""The ACME server's refusals and account life cycle, at the protocol level against the real HTTPS server
(RFC 8555 §6.5 nonces, §6.7 errors, §7.3 accounts with External Account Binding, §7.3.5 key change,
§7.3.6 deactivation, Retry-After on pending objects). Each refusal also shows that nothing was recorded."""

from __future__ import annotations

import json
import urllib.request

import josepy as jose
from acme import jws as acme_jws
from cryptography.hazmat.primitives.asymmetric import ed25519

from ca.actor import cli_operator
from ca.audit_trail import company_audit_trail
from enrollment.acme_server.okp import JWKOKP, EdDSA
from tests.acme.conftest import AcmeWorld
from tests.acme.raw import RawClient, new_key
from tests.conftest import EIC


def _actions(world: AcmeWorld) -> list[str]:
    return [e.action for e in company_audit_trail(world.runtime, cli_operator("pytest"), company_eic=EIC)]


def test_directory_announces_eab_and_every_resource(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    assert client.directory["meta"]["externalAccountRequired"] is True
    base = acme_world.directory.removesuffix("/directory")
    for name, path in (("newNonce", "new-nonce"), ("newAccount", "new-account"), ("newOrder", "new-order"),
                       ("revokeCert", "revoke-cert"), ("keyChange", "key-change")):
        assert client.directory[name] == f"{base}/{path}"
    nonce = client.get(client.directory["newNonce"], "HEAD")
    assert nonce.status == 200 and nonce.headers["Cache-Control"] == "no-store"
    assert nonce.headers["Replay-Nonce"] != client.nonce()


def test_account_without_eab_is_external_account_required(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    reply = client.register(with_eab=False)
    assert (reply.status, reply.problem_type) == (400, "externalAccountRequired")
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert "acme.account.created" not in _actions(acme_world)


def test_eab_with_a_wrong_mac_or_for_another_key_is_refused(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    payload = {"termsOfServiceAgreed": True,
               "externalAccountBinding": client.eab(acme_world.eab.kid, jose.b64encode(b"x" * 32).decode())}
    reply = client.post(client.directory["newAccount"], payload, embed=True)
    assert (reply.status, reply.problem_type) == (403, "unauthorized")
    other = RawClient(acme_world)
    payload["externalAccountBinding"] = other.eab(acme_world.eab.kid, acme_world.eab.hmac_key)
    reply = client.post(client.directory["newAccount"], payload, embed=True)
    assert (reply.status, reply.problem_type) == (400, "malformed")
    assert "acme.account.created" not in _actions(acme_world)


def test_replayed_nonce_is_bad_nonce(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    assert client.register().status == 201
    body = client.sign(client.directory["newOrder"], {"identifiers": [{"type": "dns", "value": "www.example.test"}]})
    first = client.post_body(client.directory["newOrder"], body)
    assert first.status == 201
    replay = client.post_body(client.directory["newOrder"], body)
    assert (replay.status, replay.problem_type) == (400, "badNonce")
    assert replay.headers["Replay-Nonce"]  # §6.5: a fresh nonce to retry with
    assert _actions(acme_world).count("acme.order.created") == 1
    invented = client.post(client.directory["newOrder"], {"identifiers": []}, nonce=jose.b64encode(b"made up").decode())
    assert invented.problem_type == "badNonce"


def test_identifier_outside_the_company_domains_is_rejected(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    client.register()
    for names in (("evil.invalid",), ("www.example.test", "www.other.test"), ("notexample.test",),
                  ("*.example.test",)):
        reply = client.order(*names)
        assert (reply.status, reply.problem_type) == (400, "rejectedIdentifier"), (names, reply.body)
    reply = client.order("www.example.test", "evil.invalid")
    assert [p["identifier"]["value"] for p in reply.json()["subproblems"]] == ["evil.invalid"]
    ip = client.post(client.directory["newOrder"], {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})
    assert ip.problem_type == "unsupportedIdentifier"
    assert "acme.order.created" not in _actions(acme_world)
    # Subdomains of a listed domain are allowed, at any depth.
    assert client.order("a.b.example.test").status == 201


def test_pending_objects_carry_retry_after_and_belong_to_their_account(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    client.register()
    created = client.order("www.example.test")
    assert created.status == 201 and created.json()["status"] == "pending"
    assert created.headers["Retry-After"] == "2"
    authorization_url = created.json()["authorizations"][0]
    authorization = client.post(authorization_url, None)
    assert authorization.json()["status"] == "pending" and authorization.headers["Retry-After"] == "2"
    challenge = authorization.json()["challenges"][0]
    assert challenge["type"] == "http-01" and len(challenge["token"]) >= 43
    # No one listens on the http-01 port: the challenge fails and so do the authorization and the order.
    failed = client.post(challenge["url"], {})
    assert failed.json()["status"] == "invalid" and failed.json()["error"]["type"].endswith(":connection")
    order = client.post(created.headers["Location"], None).json()
    assert order["status"] == "invalid"
    # Another account of the same company cannot read it.
    stranger = RawClient(acme_world)
    stranger.register()
    assert stranger.post(created.headers["Location"], None).status == 404
    finalize = client.post(order["finalize"], {"csr": "AA"})
    assert finalize.problem_type in ("badCSR", "orderNotReady")


def test_jws_checks_url_algorithm_and_account(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world)
    client.register()
    wrong_url = client.post_body(client.directory["newOrder"],
                                 client.sign(client.directory["revokeCert"], {"identifiers": []}))
    assert (wrong_url.status, wrong_url.problem_type) == (403, "unauthorized")
    hs = client.post_body(client.directory["newOrder"], client.sign(
        client.directory["newOrder"], {}, key=jose.JWKOct(key=b"k" * 32), alg=jose.HS256))
    assert hs.problem_type == "badSignatureAlgorithm" and "ES256" in hs.json()["algorithms"]
    forged = client.post(client.directory["newOrder"], {"identifiers": []}, key=new_key()[0])
    assert (forged.status, forged.problem_type) == (400, "malformed")
    plain = client._send(urllib.request.Request(
        client.directory["newOrder"], data=b"{}", method="POST", headers={"Content-Type": "application/json"}))
    assert plain.status == 400 and plain.problem_type == "malformed"


def test_rsa_account_key_change_and_deactivation(acme_world: AcmeWorld) -> None:
    key, alg = new_key("rsa")
    client = RawClient(acme_world, key=key, alg=alg)
    assert client.register().status == 201
    again = client.register()
    assert again.status == 200 and again.headers["Location"] == client.kid  # same key, same account

    new, new_alg = new_key()
    # §7.3.5: the inner JWS is signed by the new key (jwk), has the keyChange url and no nonce.
    payload = json.dumps({"account": client.kid, "oldKey": key.public_key().to_partial_json()}).encode()
    inner_json = acme_jws.JWS.sign(payload, key=new, alg=new_alg, nonce=None,
                                   url=client.directory["keyChange"]).to_json()
    changed = client.post(client.directory["keyChange"], inner_json)
    assert changed.status == 200, changed.body
    old = client.post(client.kid, None)
    assert old.problem_type == "malformed"  # the old key no longer signs for the account
    client.key, client.alg = new, new_alg
    assert client.post(client.kid, None).json()["status"] == "valid"

    deactivated = client.post(client.kid, {"status": "deactivated"})
    assert deactivated.json()["status"] == "deactivated"
    refused = client.order("www.example.test")
    assert (refused.status, refused.problem_type) == (403, "unauthorized")
    actions = _actions(acme_world)
    assert "acme.account.key_changed" in actions and "acme.account.deactivated" in actions


def test_eddsa_account_key_rfc_8037(acme_world: AcmeWorld) -> None:
    client = RawClient(acme_world, key=JWKOKP(key=ed25519.Ed25519PrivateKey.generate()), alg=EdDSA)
    assert client.register().status == 201
    assert client.order("www.example.test").status == 201
    # RFC 8037 §2 thumbprint members (crv, kty, x) make the account unique per key: the same key finds it again.
    assert client.register().status == 200
    # An ES256 signature for this Ed25519 account: the algorithm does not fit the account key.
    wrong = client.post(client.directory["newOrder"], {"identifiers": []}, key=new_key()[0], alg=jose.ES256)
    assert (wrong.status, wrong.problem_type) == (400, "malformed")


def test_garbage_is_always_an_acme_problem(acme_world: AcmeWorld) -> None:
    """Odd bodies on every endpoint: a problem document with a 4xx status, never a 5xx or an HTML page (the
    only successes: the caller's own account and order list)."""
    client = RawClient(acme_world)
    client.register()
    base = acme_world.directory.removesuffix("/directory")
    endpoints = [f"{base}/{p}" for p in ("new-account", "new-order", "revoke-cert", "key-change", "order/1",
                                         "order/1/finalize", "authz/1", "chall/1", "cert/1", "account/1",
                                         "account/1/orders", "order/99999999999999", "order/2147483648")]
    payloads = [None, [], "x", 1, {"identifiers": "x"}, {"identifiers": [{"type": 1}]}, {"csr": 5},
                {"certificate": "%%%"}, {"certificate": "AAAA", "reason": "x"}, {"protected": 5},
                {"protected": "e30", "payload": "", "signature": ""}, {"contact": [1]}, {"status": "valid"},
                {"externalAccountBinding": {"protected": "bad"}}, {"identifiers": [{"type": "dns", "value": 7}]}]
    newcomer = RawClient(acme_world)  # a key without an account: new-account then needs a valid EAB
    seen = set()
    for url in endpoints:
        for payload in payloads:
            if url.endswith("new-account"):
                reply = newcomer.post(url, payload, embed=True)
            else:
                reply = client.post(url, payload)
            assert reply.status < 500, (url, payload, reply.status, reply.body)
            if reply.status >= 400:
                assert reply.headers["Content-Type"] == "application/problem+json", (url, payload)
                seen.add(reply.problem_type)
            else:  # only its own account (unknown members are ignored, §7.3.2) and order list answer
                assert url.endswith(("/account/1", "/account/1/orders")), (url, payload, reply.body)
        for raw in (b"", b"{", b"\xff\xfe", b'{"protected": "!!!", "payload": "", "signature": ""}',
                    b'{"signatures": []}', b"[]"):
            reply = client.post_body(url, raw)
            assert 400 <= reply.status < 500 and reply.problem_type, (url, raw, reply.body)
    assert "malformed" in seen
