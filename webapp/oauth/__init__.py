"""OAuth2 for programs (issue 12 item 1): the authorization server's endpoints and the API's bearer check."""

from __future__ import annotations

import logging

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from ca.errors import PKIError
from ca.lifecycle.token_key import token_signing_key
from ca.runtime import Runtime

log = logging.getLogger("portail.web")


def _limit_failures(app: Flask, limit: str) -> None:
    """Only refusals count (each costs an argon2 check and an audit row), per client address."""
    from flask_limiter.util import get_remote_address

    limiter = app.extensions["portail.limiter"]
    for endpoint in ("oauth.token", "oauth.revoke", "oauth.introspect"):
        app.view_functions[endpoint] = limiter.limit(
            limit, key_func=get_remote_address, deduct_when=lambda response: response.status_code in (400, 401),
            scope="oauth-client")(app.view_functions[endpoint])


def register_oauth(app: Flask, runtime: Runtime, csrf: CSRFProtect) -> None:
    """Endpoints take client credentials, never a session cookie: no CSRF token applies (RFC 6749 §3.2)."""
    from webapp.oauth.bearer import create_protector
    from webapp.oauth.endpoints import bp
    from webapp.oauth.server import create_authorization_server
    from webapp.portal.api_clients import bp as admin_pages

    app.extensions["portail.oauth_server"] = create_authorization_server(app, runtime)
    app.extensions["portail.oauth_protector"] = create_protector(runtime)
    csrf.exempt(bp)
    app.register_blueprint(bp)
    _limit_failures(app, runtime.settings.oauth.client_limit_ip)
    app.register_blueprint(admin_pages)  # the administrators' pages (forms with CSRF tokens)
    try:  # created (and audited) at start, so that no GET of the JWKS ever writes to the ledger
        token_signing_key(runtime)
    except PKIError as error:  # the portal still serves people; the token endpoint answers this error
        log.error("OAuth2 token-signing key unavailable: %s", error)
