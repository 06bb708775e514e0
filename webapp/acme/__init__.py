"""The ACME server's HTTP side (RFC 8555): `create_acme_app(runtime)`, a small Flask app served over
HTTPS by `pkictl serve acme`. Each view parses, calls one use case of `enrollment.acme_server`, renders.

Every answer carries a fresh `Replay-Nonce` (§6.5) and `Link: <directory>;rel="index"` (§7.1); every
refusal is an `application/problem+json` document with its ACME error type (§6.7), never an HTML page.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, g, request

from ca.errors import PKIError
from ca.runtime import Runtime
from enrollment.acme_server import accounts, orders, revocation
from enrollment.acme_server.accounts import Caller
from enrollment.acme_server.errors import AcmeError, as_acme_error, malformed
from enrollment.acme_server.nonces import new_nonce
from enrollment.acme_server.refusals import record_refusal
from enrollment.acme_server.urls import Urls
from webapp.health import HealthEndpoints, HealthMiddleware

log = logging.getLogger("portail.acme")
JOSE = "application/jose+json"
# Routes take ids up to the ledger's integer range (PostgreSQL int4): a larger one is a 404, not a DB error.


def create_acme_app(runtime: Runtime) -> Flask:
    app = Flask("portail-acme")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    urls = Urls(runtime.settings.acme.directory_base)
    retry_after = str(runtime.settings.acme.retry_after_seconds)

    def nonce_headers(response: Response) -> Response:
        response.headers["Replay-Nonce"] = new_nonce(runtime)
        response.headers["Link"] = f'<{urls.directory}>;rel="index"'
        response.headers["Cache-Control"] = "no-store"
        return response

    def problem(error: PKIError) -> Response:
        acme_error = as_acme_error(error)
        record_refusal(runtime, acme_error, g.get("acme_caller"), method=request.method, path=request.path)
        body = acme_error.problem()
        response = Response(json.dumps(body), status=acme_error.status, mimetype="application/problem+json")
        response.headers.update(acme_error.headers)
        try:
            return nonce_headers(response)
        except PKIError:  # the ledger is down: still answer the problem, without a nonce
            return response

    def as_json(body: dict[str, Any], status: int = 200, *, location: str | None = None,
                pending: bool = False) -> Response:
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if location:
            response.headers["Location"] = location
        if pending or body.get("status") in orders.PENDING_STATES:
            response.headers["Retry-After"] = retry_after  # §7.4, §8.2: when to poll again
        return nonce_headers(response)

    def signed(embedded_key: str = "forbidden") -> Caller:
        if request.mimetype != JOSE:
            raise malformed(f"POST bodies must be {JOSE} (RFC 8555 §6.2)")
        caller = accounts.authenticate(runtime, urls, request.get_data(), urls.base + request.path,
                                       source_ip=request.remote_addr, embedded_key=embedded_key)
        g.acme_caller = caller  # a refusal after this point is audited with its account (refusals.py)
        return caller

    @app.errorhandler(PKIError)
    def on_pki_error(error: PKIError) -> Response:
        return problem(error)

    @app.errorhandler(Exception)
    def on_bug(error: Exception) -> Response:
        """A bug still answers in ACME's words (§6.7 serverInternal), and is logged with its traceback."""
        from werkzeug.exceptions import HTTPException

        if isinstance(error, HTTPException):
            return problem(AcmeError("malformed", error.description or error.name, error.code or 400))
        log.exception("ACME request %s %s failed", request.method, request.path)
        return problem(AcmeError("serverInternal", "the server failed on this request; it was logged", 500))

    @app.errorhandler(404)
    def on_not_found(_error: Exception) -> Response:
        return problem(AcmeError("malformed", f"no ACME resource at {request.path}", 404))

    @app.errorhandler(405)
    def on_method(_error: Exception) -> Response:
        return problem(AcmeError("malformed", f"{request.method} is not allowed on {request.path}", 405))

    @app.errorhandler(413)
    def on_too_large(_error: Exception) -> Response:
        return problem(AcmeError("malformed", "the request body is too large", 413))

    @app.get("/acme/directory")
    def directory() -> Response:
        response = Response(json.dumps(urls.directory_json()), mimetype="application/json")
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @app.route("/acme/new-nonce", methods=["GET", "HEAD"])
    def nonce() -> Response:
        return nonce_headers(Response(status=204 if request.method == "GET" else 200))  # §7.2

    @app.post("/acme/new-account")
    def new_account() -> Response:
        account, created = accounts.new_account(runtime, urls, signed("required"))
        return as_json(accounts.account_json(account, urls), 201 if created else 200,
                       location=urls.account(account.id))

    @app.post("/acme/account/<int(max=2147483647):account_id>")
    def account(account_id: int) -> Response:
        row = accounts.update_account(runtime, urls, signed(), account_id)
        return as_json(accounts.account_json(row, urls), location=urls.account(row.id))

    @app.post("/acme/account/<int(max=2147483647):account_id>/orders")
    def account_orders(account_id: int) -> Response:
        return as_json(orders.list_orders(runtime, urls, signed(), account_id))

    @app.post("/acme/key-change")
    def key_change() -> Response:
        row = accounts.change_key(runtime, urls, signed())
        return as_json(accounts.account_json(row, urls), location=urls.account(row.id))

    @app.post("/acme/new-order")
    def new_order() -> Response:
        order_id, body = orders.new_order(runtime, urls, signed())
        return as_json(body, 201, location=urls.order(order_id))

    @app.post("/acme/order/<int(max=2147483647):order_id>")
    def order(order_id: int) -> Response:
        return as_json(orders.get_order(runtime, urls, signed(), order_id), location=urls.order(order_id))

    @app.post("/acme/order/<int(max=2147483647):order_id>/finalize")
    def finalize(order_id: int) -> Response:
        return as_json(orders.finalize(runtime, urls, signed(), order_id), location=urls.order(order_id))

    @app.post("/acme/authz/<int(max=2147483647):authorization_id>")
    def authorization(authorization_id: int) -> Response:
        return as_json(orders.get_authorization(runtime, urls, signed(), authorization_id))

    @app.post("/acme/chall/<int(max=2147483647):challenge_id>")
    def challenge(challenge_id: int) -> Response:
        authorization_id, body = orders.respond_challenge(runtime, urls, signed(), challenge_id)
        response = as_json(body)
        response.headers["Link"] = (f'<{urls.authorization(authorization_id)}>;rel="up", '
                                    f'<{urls.directory}>;rel="index"')
        return response

    @app.post("/acme/cert/<int(max=2147483647):order_id>")
    def certificate(order_id: int) -> Response:
        chain = orders.certificate_chain(runtime, signed(), order_id)
        return nonce_headers(Response(chain, mimetype="application/pem-certificate-chain"))

    @app.post("/acme/revoke-cert")
    def revoke_cert() -> Response:
        revocation.revoke(runtime, signed("allowed"))
        return nonce_headers(Response(status=200))

    # /healthz, /readyz and /metrics (issue 10 §9) like every service: pki_acme_refusals_total among them.
    app.wsgi_app = HealthMiddleware(app.wsgi_app, HealthEndpoints(runtime, "acme"))  # type: ignore[method-assign]
    return app
