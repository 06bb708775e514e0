"""OAuth2 endpoints of the portal: metadata (RFC 8414), token (RFC 6749 §4.4), revocation (RFC 7009),
introspection (RFC 7662) and the JWKS. The same app answers at the mutual-TLS alias (RFC 8705 §5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from ca.runtime import Runtime
from enrollment.api_clients.scopes import SCOPES
from webapp.oauth.keys import ALG, public_jwks
from webapp.oauth.server import AUTH_METHODS, PortalAuthorizationServer, issuer_of

bp = Blueprint("oauth", __name__)
TOKEN, REVOKE, INTROSPECT, JWKS = "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/jwks"


def _runtime() -> Runtime:
    return current_app.extensions["portail.runtime"]


def _server() -> PortalAuthorizationServer:
    return current_app.extensions["portail.oauth_server"]


def mtls_base_url(runtime: Runtime) -> str:
    oauth = runtime.settings.oauth
    if oauth.mtls_base_url:
        return oauth.mtls_base_url.rstrip("/")
    names = oauth.mtls_server_name_list or ("localhost",)
    return f"https://{names[0]}:{oauth.mtls_port}"


def server_metadata(runtime: Runtime) -> dict[str, Any]:
    """RFC 8414 §2 fields, with RFC 8705 §3.3 and §5 for certificate-bound tokens and the mTLS alias."""
    issuer, alias = issuer_of(runtime), mtls_base_url(runtime)
    return {
        "issuer": issuer,
        "token_endpoint": issuer + TOKEN,
        "jwks_uri": issuer + JWKS,
        "scopes_supported": list(SCOPES),
        # REQUIRED by §2; this server has no authorization endpoint, so no response type returns anything.
        "response_types_supported": ["none"],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint": issuer + REVOKE,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint": issuer + INTROSPECT,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "tls_client_certificate_bound_access_tokens": True,
        "mtls_endpoint_aliases": {"token_endpoint": alias + TOKEN, "revocation_endpoint": alias + REVOKE,
                                  "introspection_endpoint": alias + INTROSPECT},
        "access_token_signing_alg_values_supported": [ALG],
    }


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    return jsonify(server_metadata(_runtime()))


@bp.get(JWKS)
def jwks() -> Response:
    return jsonify(public_jwks(_runtime()))


@bp.post(TOKEN)
def token() -> Response:
    return _server().create_token_response()  # type: ignore[no-any-return]


@bp.post(REVOKE)
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")  # type: ignore[no-any-return]


@bp.post(INTROSPECT)
def introspect() -> Response:
    return _server().create_endpoint_response("introspection")  # type: ignore[no-any-return]
