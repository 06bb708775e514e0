"""OAuth2 for programs (issue 12 item 1): the authorization server's endpoints and the API's bearer check."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from ca.runtime import Runtime


def register_oauth(app: Flask, runtime: Runtime, csrf: CSRFProtect) -> None:
    """Endpoints take client credentials, never a session cookie: no CSRF token applies (RFC 6749 §3.2)."""
    from webapp.oauth.bearer import create_protector
    from webapp.oauth.endpoints import bp
    from webapp.oauth.server import create_authorization_server

    app.extensions["portail.oauth_server"] = create_authorization_server(app, runtime)
    app.extensions["portail.oauth_protector"] = create_protector(runtime)
    csrf.exempt(bp)
    app.register_blueprint(bp)
