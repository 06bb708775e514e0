"""OAuth2 endpoints of the portal: metadata (RFC 8414), token (RFC 6749 §4.4), revocation (RFC 7009),
introspection (RFC 7662) and the JWKS. The same app answers at the mutual-TLS alias (RFC 8705 §5)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.wrappers import Response

from ca.errors import PKIError
from ca.lifecycle.token_key import token_signing_key
from ca.runtime import Runtime
from enrollment.api_clients.scopes import SCOPES
from webapp.oauth.keys import ALG, public_jwks
from webapp.oauth.server import AUTH_METHODS, PortalAuthorizationServer, issuer_of

log = logging.getLogger("portail.web")
bp = Blueprint("oauth", __name__)
RETRY_AFTER = 60  # seconds: an operator has to restore the passphrase or key file
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


def _signing_key_unavailable() -> Response | None:
    """A 503 `temporarily_unavailable` (RFC 6749 §5.2 as extended by its errata and RFC 6749 §4.1.2.1's error
    code) when the token-signing key cannot be loaded — say its passphrase file is missing. Without it the
    PKIError mapping would answer 404 from a server-side fault. The next request tries again (the key is
    cached only once loaded), so restoring the file needs no restart. The cause goes to the log, not to
    the client (it names paths)."""
    try:
        token_signing_key(_runtime())
    except PKIError as error:
        log.error("OAuth2 token endpoint unavailable: the token-signing key cannot be loaded: %s", error)
        answer = jsonify(error="temporarily_unavailable",
                         error_description="the token-signing key cannot be loaded; try again later")
        answer.status_code = 503
        answer.headers["Retry-After"] = str(RETRY_AFTER)  # RFC 9110 §10.2.3
        answer.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1
        return answer
    return None


@bp.post(TOKEN)
def token() -> Response:
    unavailable = _signing_key_unavailable()
    if unavailable is not None:
        return unavailable
    return _server().create_token_response()  # type: ignore[no-any-return]


@bp.post(REVOKE)
def revoke() -> Response:
    return _server().create_endpoint_response("revocation")  # type: ignore[no-any-return]


@bp.post(INTROSPECT)
def introspect() -> Response:
    return _server().create_endpoint_response("introspection")  # type: ignore[no-any-return]
