"""OAuth2 client credentials in-process (Flask test client, real keys and signatures, SQLite and PostgreSQL):
registration, token endpoint, bearer on the API, scopes, revocation, introspection, audit."""

from __future__ import annotations

import base64
import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from ca.actor import cli_operator
from ca.errors import BadRequestError, ConflictError, NotAuthorizedError
from ca.ledger.api_client_models import AccessTokenRecord, ApiClient
from ca.ledger.models import AuditEvent
from enrollment.api_clients.registration import TlsBinding, create_api_client, revoke_api_client
from tests.conftest import EIC, OTHER_EIC

OPERATOR = cli_operator("pytest")


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _register(runtime, scope="certificates:read", eic=EIC, name="Billing robot"):
    return create_api_client(runtime, OPERATOR, company_eic=eic, name=name, scope=scope)


def _token(client, reg, **form):
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                         headers=_basic(reg.client.client_id, reg.client_secret))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["access_token"]


def _events(runtime, action):
    with runtime.sessionmaker() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _count(runtime, model):
    with runtime.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_token_is_an_rfc9068_jwt_signed_by_the_published_key(client, runtime):
    reg = _register(runtime)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers=_basic(reg.client.client_id, reg.client_secret))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and body["scope"] == "certificates:read"
    jwks = client.get("/oauth/jwks").get_json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt" and token.header["kid"] == jwks["keys"][0]["kid"]
    claims = token.claims
    assert claims["client_id"] == claims["sub"] == reg.client.client_id
    assert claims["company"] == EIC and claims["scope"] == "certificates:read"
    assert claims["exp"] - claims["iat"] == 600 and claims["aud"].endswith("/api/v1/") and "cnf" not in claims
    assert [e.object_id for e in _events(runtime, "oauth.token_issued")] == [claims["jti"]]
    # The signing key is kept encrypted (PKCS#8) in the key directory.
    key_file = runtime.settings.ca.key_dir / "oauth-token-signing.key.pem"
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes() and key_file.stat().st_mode & 0o077 == 0


def test_bearer_calls_me_and_company_certificates_with_scope_enforced(client, runtime):
    reg = _register(runtime)
    access = {"Authorization": "Bearer " + _token(client, reg)}
    me = client.get("/api/v1/me", headers=access)
    assert me.status_code == 200
    assert me.get_json()["client_id"] == reg.client.client_id and me.get_json()["company"] == EIC
    assert me.get_json()["name"] == "Billing robot"
    assert client.get("/api/v1/company/certificates", headers=access).status_code == 200
    refused = client.get("/api/v1/company/users", headers=access)
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert refused.get_json()["error"]["kind"] == "not_authorized"
    personal = client.get("/api/v1/certificates", headers=access)  # a person's own list: not for programs
    assert personal.status_code == 403


def test_wrong_secret_is_invalid_client_401_and_audited(client, runtime):
    reg = _register(runtime)
    before = _count(runtime, AccessTokenRecord)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers=_basic(reg.client.client_id, "not-the-secret"))
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    posted = client.post("/oauth/token", data={"grant_type": "client_credentials",
                                               "client_id": reg.client.client_id, "client_secret": "wrong"})
    assert posted.status_code == 401 and posted.get_json()["error"] == "invalid_client"
    assert _count(runtime, AccessTokenRecord) == before
    assert len(_events(runtime, "oauth.client_refused")) == 2


def test_client_secret_post_and_unregistered_scope(client, runtime):
    reg = _register(runtime, scope="certificates:read users:read")
    form = {"grant_type": "client_credentials", "client_id": reg.client.client_id,
            "client_secret": reg.client_secret, "scope": "users:read"}
    answer = client.post("/oauth/token", data=form)
    assert answer.status_code == 200 and answer.get_json()["scope"] == "users:read"
    answer = client.post("/oauth/token", data={**form, "scope": "users:manage"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_scope"


def test_revoked_token_and_revoked_client_are_refused_at_once(client, runtime):
    reg = _register(runtime)
    token = _token(client, reg)
    access = {"Authorization": "Bearer " + token}
    assert client.get("/api/v1/me", headers=access).status_code == 200
    revoked = client.post("/oauth/revoke", data={"token": token}, headers=_basic(reg.client.client_id,
                                                                                   reg.client_secret))
    assert revoked.status_code == 200
    refused = client.get("/api/v1/me", headers=access)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    seen = client.post("/oauth/introspect", data={"token": token},
                       headers=_basic(reg.client.client_id, reg.client_secret))
    assert seen.status_code == 200 and seen.get_json() == {"active": False}
    # Revoking the client ends its other tokens too.
    second = _token(client, reg)
    live = client.post("/oauth/introspect", data={"token": second},
                       headers=_basic(reg.client.client_id, reg.client_secret)).get_json()
    assert live["active"] is True and live["client_id"] == reg.client.client_id and live["company"] == EIC
    revoke_api_client(runtime, OPERATOR, client_id=reg.client.client_id)
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer " + second}).status_code == 401
    again = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=_basic(reg.client.client_id, reg.client_secret))
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    assert _events(runtime, "oauth.token_refused") and _events(runtime, "oauth.token_revoked")


def test_forged_or_foreign_token_is_invalid_token(client, runtime):
    from cryptography.hazmat.primitives.asymmetric import ec
    from joserfc.jwk import ECKey

    reg = _register(runtime)
    claims = jwt.decode(_token(client, reg), KeySet.import_key_set(client.get("/oauth/jwks").get_json())).claims
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt"}, {**claims, "jti": "x" * 22},
                        ECKey.import_key(ec.generate_private_key(ec.SECP256R1())))
    for value in (forged, "not-a-jwt", ""):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
        assert answer.status_code == 401, value
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_client_cannot_revoke_or_introspect_another_clients_token(client, runtime):
    mine, theirs = _register(runtime), _register(runtime, eic=OTHER_EIC, name="Other robot")
    token = _token(client, mine)
    seen = client.post("/oauth/introspect", data={"token": token},
                       headers=_basic(theirs.client.client_id, theirs.client_secret))
    assert seen.get_json() == {"active": False}
    client.post("/oauth/revoke", data={"token": token}, headers=_basic(theirs.client.client_id,
                                                                       theirs.client_secret))
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer " + token}).status_code == 200


def test_company_scope_holds_for_clients(client, runtime, world):
    """A client sees its company's rows only, like a person of that company."""
    other = _register(runtime, eic=OTHER_EIC, name="Other robot", scope="users:read")
    access = {"Authorization": "Bearer " + _token(client, other)}
    users = client.get("/api/v1/company/users", headers=access)
    assert users.status_code == 200
    assert all(u["company"] == OTHER_EIC for u in users.get_json()["items"])


def test_metadata_validates_against_rfc8414(client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert metadata["token_endpoint"] == metadata["issuer"] + "/oauth/token"
    assert set(metadata["mtls_endpoint_aliases"]) == {"token_endpoint", "revocation_endpoint",
                                                      "introspection_endpoint"}
    assert metadata["mtls_endpoint_aliases"]["token_endpoint"].startswith("https://")


def test_registration_refusals_change_nothing(runtime, world):
    before = _count(runtime, ApiClient)
    with pytest.raises(BadRequestError, match="unknown scope"):
        _register(runtime, scope="certificates:read admin:everything")
    with pytest.raises(BadRequestError, match="at least one scope"):
        _register(runtime, scope="  ")
    with pytest.raises(BadRequestError, match="exactly one"):
        create_api_client(runtime, OPERATOR, company_eic=EIC, name="x", scope="users:read", tls=TlsBinding())
    with pytest.raises(BadRequestError, match="name"):
        _register(runtime, name="")
    with pytest.raises(NotAuthorizedError):
        create_api_client(runtime, world.actor("carol"), company_eic=None, name="x", scope="users:read")
    _register(runtime)
    with pytest.raises(ConflictError):
        _register(runtime)
    assert _count(runtime, ApiClient) == before + 1


def test_company_administrator_registers_for_own_company(runtime, world):
    reg = create_api_client(runtime, world.actor("alice"), company_eic=None, name="Alice's robot",
                            scope="users:read")
    assert reg.client.company == EIC and reg.client_secret
    [event] = _events(runtime, "api_client.registered")
    assert event.object_id == reg.client.client_id and reg.client_secret not in json.dumps(event.details)
    with runtime.sessionmaker() as session:
        row = session.scalars(select(ApiClient)).one()
        assert row.secret_hash.startswith("$argon2id$") and reg.client_secret not in row.secret_hash


def test_openapi_documents_the_bearer_scheme_and_scopes_per_route(client):
    document = client.get("/api/v1/openapi.json").get_json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2" and scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {
        "certificates:read", "certificates:request", "certificates:revoke", "users:read", "users:manage"}
    paths = document["paths"]
    assert {"oauth2": ["certificates:read"]} in paths["/api/v1/company/certificates"]["get"]["security"]
    assert {"oauth2": ["users:manage"]} in paths["/api/v1/company/groups/{group_id}"]["delete"]["security"]
    assert {"oauth2": ["certificates:revoke"]} in paths["/api/v1/certificates/{serial}/revoke"]["post"]["security"]
    assert {"oauth2": []} in paths["/api/v1/me"]["get"]["security"]
    assert "security" not in paths["/api/v1/certificates"]["get"]  # a person's own list: not for programs


def test_every_client_route_answers_without_server_error(client, runtime, world):
    """A client with every scope walks the routes open to it: the use cases accept an actor without a person."""
    reg = _register(runtime, scope="certificates:read certificates:request certificates:revoke users:read "
                                   "users:manage")
    access = {"Authorization": "Bearer " + _token(client, reg)}
    made = client.post("/api/v1/company/groups", json={"name": "Robots"}, headers=access)
    assert made.status_code == 201, made.get_data(as_text=True)
    group_id = made.get_json()["id"]
    assert client.get(f"/api/v1/company/groups/{group_id}", headers=access).status_code == 200
    assert client.patch(f"/api/v1/company/groups/{group_id}", json={"name": "Robots 2"},
                        headers=access).get_json()["name"] == "Robots 2"
    assert client.delete(f"/api/v1/company/groups/{group_id}", headers=access).status_code == 204
    invited = client.post("/api/v1/company/users", json={"email": "robot-made@example.com",
                                                         "full_name": "Made By Robot"}, headers=access)
    assert invited.status_code == 201, invited.get_data(as_text=True)
    detached = client.post(f"/api/v1/company/users/{invited.get_json()['user']['id']}/detach", headers=access)
    assert detached.status_code == 200, detached.get_data(as_text=True)
    assert client.get("/api/v1/company/requests", headers=access).status_code == 200
    assert client.post("/api/v1/company/requests/999999/approve", json={}, headers=access).status_code == 404
    assert client.get("/api/v1/certificates/ab12", headers=access).status_code == 404
    assert client.post("/api/v1/certificates/ab12/revoke", json={"reason": "superseded"},
                       headers=access).status_code == 404
    with runtime.sessionmaker() as session:
        actors = {e.actor for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("group.%")))}
    assert f"api-client:{reg.client.client_id}" in actors


def test_a_session_cookie_gets_no_token(client, runtime, world):
    """The OAuth endpoints need no CSRF token because a cookie authenticates nothing there (RFC 6749 §3.2)."""
    from tests.portal.support import login

    login(client, "alice@example.com")
    before = _count(runtime, AccessTokenRecord)
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    assert _count(runtime, AccessTokenRecord) == before


def test_failed_client_authentications_are_limited_per_address(settings, runtime, world):
    """Refusals only: a client that authenticates keeps getting tokens; after the limit, 429 for refusals."""
    import dataclasses

    from webapp.app import create_app

    limited = dataclasses.replace(settings, oauth=dataclasses.replace(settings.oauth, client_limit_ip="3 per minute"))
    client = create_app(limited, runtime=dataclasses.replace(runtime, settings=limited)).test_client()
    reg = _register(runtime)
    statuses = [client.post("/oauth/token", data={"grant_type": "client_credentials"},
                            headers=_basic(reg.client.client_id, "wrong")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refusals = len(_events(runtime, "oauth.client_refused"))
    assert refusals == 3  # the limited attempt cost neither an argon2 check nor an audit row
