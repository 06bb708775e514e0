"""The authorization server (RFC 6749 §4.4 client credentials) on Authlib: client authentication by secret
(`client_secret_basic`, `client_secret_post`, §2.3.1) or by certificate (`tls_client_auth`, RFC 8705 §2.1),
JWT access tokens of the RFC 9068 profile, revocation (RFC 7009) and introspection (RFC 7662).

Authlib speaks the protocol; the ledger decisions (who the client is, whether its certificate is the
company's, which token is still valid) are enrollment.api_clients' use cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidScopeError, TokenMixin
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, current_app, request
from joserfc import jwt
from joserfc.errors import JoseError

from ca.runtime import Runtime
from enrollment.api_clients.credentials import certificate_authenticates, secret_matches, x5t_s256
from enrollment.api_clients.registration import find_client
from enrollment.api_clients.scopes import SCOPES
from enrollment.api_clients.tokens import (
    audit_refusal,
    record_access_token,
    revoke_access_token,
    token_active,
    token_state,
)
from enrollment.api_clients.views import CLIENT_SECRET, TLS_CLIENT_AUTH, ApiClientView
from webapp.oauth.keys import ALG, private_keyset, public_keyset
from webapp.oauth.mtls import peer_certificate

AUTH_METHODS = ["client_secret_basic", "client_secret_post", TLS_CLIENT_AUTH]
SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def _runtime() -> Runtime:
    return current_app.extensions["portail.runtime"]


def issuer_of(runtime: Runtime) -> str:
    """RFC 8414 §2 `issuer`: oauth.issuer, or the portal's public address."""
    return (runtime.settings.oauth.issuer or runtime.settings.portal.base_url).rstrip("/")


def audience_of(runtime: Runtime) -> str:
    """RFC 9068 §3 `aud`: the JSON API is the one resource server."""
    return issuer_of(runtime) + "/api/v1/"


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a registered application."""

    def __init__(self, view: ApiClientView) -> None:
        self.view = view

    def get_client_id(self) -> str:
        return self.view.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """No scope asked: all the registered ones (RFC 6749 §3.3); one not registered: invalid_scope."""
        if not scope:
            return " ".join(self.view.scopes)
        asked = scope.split()
        if any(s not in self.view.scopes for s in asked):
            raise InvalidScopeError(description="the client is not registered for this scope")
        return " ".join(s for s in self.view.scopes if s in asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.view, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.view.auth_method == TLS_CLIENT_AUTH:
            return method == TLS_CLIENT_AUTH
        return self.view.auth_method == CLIENT_SECRET and method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class LedgerToken(TokenMixin):  # type: ignore[misc]
    """A recorded access token, as the revocation and introspection endpoints see it."""

    def __init__(self, runtime: Runtime, jti: str, claims: dict[str, Any]) -> None:
        self.runtime, self.jti, self.claims = runtime, jti, claims
        self.state = token_state(runtime, jti)

    def check_client(self, client: OAuthClient) -> bool:
        return self.state is not None and self.state.client.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims.get("exp", 0)) - int(self.claims.get("iat", 0)))

    def is_expired(self) -> bool:
        return self.state is None or not token_active(self.runtime, self.state)

    def is_revoked(self) -> bool:
        return self.state is None or self.state.record.revoked_at is not None


def decode_access_token(runtime: Runtime, token: str) -> dict[str, Any] | None:
    """The claims of a token this server signed (signature checked), or None."""
    try:
        return dict(jwt.decode(token, public_keyset(runtime), algorithms=[ALG]).claims)
    except (JoseError, ValueError):
        return None


def _query_token(runtime: Runtime, token: str) -> LedgerToken | None:
    claims = decode_access_token(runtime, token)
    if claims is None or not isinstance(claims.get("jti"), str):
        return None
    return LedgerToken(runtime, claims["jti"], claims)


class TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 JWT: `iss`, `aud`, `sub` = `client_id`, `scope`, `jti`, and our `company`; over mutual TLS,
    `cnf` with the SHA-256 thumbprint of the client certificate (RFC 8705 §3.1)."""

    def get_jwks(self) -> Any:
        return private_keyset(_runtime())

    def get_audiences(self, client: OAuthClient, user: object, scope: str) -> str:
        return audience_of(_runtime())

    def get_extra_claims(self, client: OAuthClient, grant_type: str, user: object, scope: str) -> dict[str, Any]:
        claims: dict[str, Any] = {"company": client.view.company}
        der = peer_certificate(request.environ)
        if der is not None:
            claims["cnf"] = {"x5t#S256": x5t_s256(der)}
        return claims


def authenticate_tls_client(query_client: Any, oauth_request: Any) -> OAuthClient | None:
    """RFC 8705 §2: the client names itself with `client_id` and proves itself with the TLS connection."""
    client_id = oauth_request.form.get("client_id")
    der = peer_certificate(request.environ)
    if not client_id or der is None:
        return None
    client = query_client(client_id)
    if client is None or not certificate_authenticates(_runtime(), client.view, der):
        return None
    return client


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: the token's row is marked revoked; the API refuses it from this commit on."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> LedgerToken | None:
        return _query_token(_runtime(), token_string)

    def revoke_token(self, token: LedgerToken, oauth_request: Any) -> None:
        revoke_access_token(_runtime(), token.state.client, token.jti, source_ip=request.remote_addr)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662: a client introspects its own tokens (§4: it learns nothing of others')."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> LedgerToken | None:
        return _query_token(_runtime(), token_string)

    def check_permission(self, token: LedgerToken, client: OAuthClient, oauth_request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: LedgerToken) -> dict[str, Any]:
        claims = token.claims
        payload = {key: claims[key] for key in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti",
                                                 "company", "cnf") if key in claims}
        payload.update(active=True, token_type="Bearer")
        return payload


class PortalAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def query_client(self, client_id: str) -> OAuthClient | None:
        view = find_client(_runtime(), client_id)
        return OAuthClient(view) if view is not None else None

    def save_token(self, token: dict[str, Any], oauth_request: Any) -> None:
        """Record the token (and audit it) before it leaves: its jti is what revocation targets."""
        runtime = _runtime()
        claims = decode_access_token(runtime, token["access_token"])
        assert claims is not None  # signed by this process a moment ago
        cnf = claims.get("cnf", {}).get("x5t#S256") if isinstance(claims.get("cnf"), dict) else None
        record_access_token(runtime, oauth_request.client.view, jti=claims["jti"], scope=claims.get("scope", ""),
                            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                            expires_at=datetime.fromtimestamp(claims["exp"], UTC), cnf_x5t_s256=cnf,
                            auth_method=getattr(oauth_request, "auth_method", "") or "",
                            source_ip=request.remote_addr)

    def handle_error_response(self, oauth_request: Any, error: Any) -> Any:
        """Every refusal of the token, revocation or introspection endpoints is audited (ASVS V16)."""
        client_id = ""
        if oauth_request is not None:
            payload = getattr(oauth_request, "payload", None)
            client_id = (getattr(payload, "client_id", None) or oauth_request.form.get("client_id")
                         or extract_basic_authorization(oauth_request.headers)[0] or "")
        audit_refusal(_runtime(), action="oauth.client_refused", object_id=str(client_id) or "unknown",
                      reason=f"{error.error}: {error.description or ''}".strip(), source_ip=request.remote_addr)
        return super().handle_error_response(oauth_request, error)


def create_authorization_server(app: Flask, runtime: Runtime) -> PortalAuthorizationServer:
    server = PortalAuthorizationServer(app)
    server.scopes_supported = list(SCOPES)
    lifetime = runtime.settings.oauth.token_lifetime_seconds
    server.register_token_generator("client_credentials", TokenGenerator(
        issuer=issuer_of(runtime), alg=ALG, expires_generator=lambda client, grant_type: lifetime))
    server.register_client_auth_method(TLS_CLIENT_AUTH, authenticate_tls_client)

    class Grant(ClientCredentialsGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    server.register_grant(Grant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    return server
