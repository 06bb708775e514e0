"""`Authorization: Bearer` on the JSON API (RFC 6750): the token's signature and claims are checked by
Authlib's RFC 9068 validator, then the ledger decides (revoked token or client, certificate binding,
RFC 8705 §3), then the route's scope (ROUTE_SCOPES, also written into the OpenAPI document).

Refusals answer as RFC 6750 §3 says: 401 with `WWW-Authenticate: Bearer error="invalid_token"`, 403 with
`error="insufficient_scope"`; the body is the API's usual {"error": {"kind", "message"}}.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from flask import current_app, g, jsonify, request
from werkzeug.wrappers import Response

from ca.errors import UnauthenticatedError
from ca.runtime import Runtime
from enrollment.api_clients.tokens import audit_refusal, check_access_token
from webapp.oauth.keys import public_keyset
from webapp.oauth.mtls import peer_certificate
from webapp.oauth.server import audience_of, issuer_of

# API endpoint → the scope a token needs there (None: any valid token). Routes absent here (a person's own
# certificates and requests) are not open to API clients.
ROUTE_SCOPES: dict[str, str | None] = {
    "api.me": None,
    "api.company_certificates": "certificates:read",
    "api.certificate": "certificates:read",
    "api.company_requests": "certificates:read",
    "api.approve": "certificates:request",
    "api.reject": "certificates:request",
    "api.revoke": "certificates:revoke",
    "api.users": "users:read",
    "api.groups": "users:read",
    "api.group": "users:read",
    "api.new_user": "users:manage",
    "api.detach": "users:manage",
    "api.new_group": "users:manage",
    "api.edit_group": "users:manage",
    "api.remove_group": "users:manage",
}


class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(issuer=issuer_of(runtime), resource_server=audience_of(runtime))
        self.runtime = runtime

    def get_jwks(self) -> Any:
        return public_keyset(self.runtime)


def create_protector(runtime: Runtime) -> tuple[ResourceProtector, Validator]:
    protector, validator = ResourceProtector(), Validator(runtime)
    protector.register_token_validator(validator)
    return protector, validator


def bearer_requested() -> bool:
    scheme = request.headers.get("Authorization", "").split(None, 1)
    return bool(scheme) and scheme[0].lower() == "bearer"


def _description(text: str) -> str:
    """RFC 6749 §5.2: error_description holds only %x20-21 / %x23-5B / %x5D-7E (Authlib refuses others)."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


def _refuse(error: OAuth2Error, scope: str | None = None) -> Response:
    kind = "not_authorized" if error.status_code == 403 else "unauthenticated"
    response = jsonify({"error": {"kind": kind, "message": error.description or error.error}})
    response.status_code = error.status_code
    for name, value in error.get_headers():
        if name.lower() == "www-authenticate":
            response.headers[name] = value
    if "WWW-Authenticate" not in response.headers:  # Authlib sets it for invalid_token only; §3 allows it here
        challenge = f'Bearer error="{error.error}"' + (f', scope="{scope}"' if scope else "")
        response.headers["WWW-Authenticate"] = challenge
    return response


def authenticate_bearer() -> Response | None:
    """before_request of the API: None when the token holds (g.principal set), else the refusal."""
    runtime: Runtime = current_app.extensions["portail.runtime"]
    protector, validator = current_app.extensions["portail.oauth_protector"]
    if request.endpoint not in ROUTE_SCOPES:
        return _refuse(InsufficientScopeError(description="this route is not open to API clients"))
    if len(request.headers.get("Authorization", "").split()) != 2:
        return _refuse(InvalidTokenError(description="the Authorization header must be 'Bearer <token>'"))
    try:
        token = protector.acquire_token(None)
    except OAuth2Error as error:
        audit_refusal(runtime, action="oauth.token_refused", object_id="unverifiable",
                      reason=error.description or error.error, source_ip=request.remote_addr)
        return _refuse(error)
    der = peer_certificate(request.environ)
    try:
        principal = check_access_token(runtime, jti=token["jti"], client_id=token["client_id"],
                                       presented_certificate=der, source_ip=request.remote_addr)
    except UnauthenticatedError as exc:
        return _refuse(InvalidTokenError(description=_description(str(exc))))
    scope = ROUTE_SCOPES[str(request.endpoint)]
    if scope is not None and validator.scope_insufficient(list(principal.scopes), [scope]):
        audit_refusal(runtime, action="oauth.token_refused", object_id=principal.jti,
                      reason=f"scope {scope} missing for {request.endpoint}", source_ip=request.remote_addr,
                      company_id=principal.client.company_id)
        return _refuse(InsufficientScopeError(description=f"this token lacks the scope {scope}"), scope)
    g.principal = principal
    g.auth_method = "bearer"
    return None
