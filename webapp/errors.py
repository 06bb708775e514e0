"""The web adapter's one error mapping (DESIGN §6): PKIError kind → HTTP status, as HTML or JSON.

JSON for the API (`/api/`) and for clients that prefer it by Accept; HTML pages otherwise. The message
shown is str(error), which is safe by contract; anything unexpected is a bare 500 with no detail.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ca.errors import PKIError

log = logging.getLogger("portail.web")

STATUS_BY_KIND = {
    "bad_request": 400,
    "bad_csr": 400,
    "bad_revocation_reason": 400,
    "csrf": 400,
    "unauthenticated": 401,
    "not_authorized": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
}
TITLES = {400: "This cannot be done as asked", 401: "Please log in", 403: "Not allowed", 404: "Not found",
          405: "Not allowed", 409: "Already done or in conflict", 413: "Too large", 429: "Too many attempts",
          500: "Something went wrong"}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, kind: str, message: str) -> Response:
    if wants_json():
        response = jsonify({"error": {"kind": kind, "message": message}})
    else:
        response = Response(render_template("error.html", status=status, title=TITLES.get(status, "Error"),
                                            message=message), mimetype="text/html")
    response.status_code = status
    return response


def _pki_error(error: PKIError) -> Response:
    status = STATUS_BY_KIND.get(error.kind)
    if status is None:
        log.error("unmapped error kind %s: %s", error.kind, error)
        return error_response(500, "internal", "the service could not complete this request")
    return error_response(status, error.kind, str(error))


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, CSRFError):
        return error_response(400, "csrf", "the form expired or did not come from this site: reload the page "
                                           "and try again")
    if status == 429:
        return error_response(429, "rate_limited", "too many attempts: wait a few minutes and try again")
    kinds = {400: "bad_request", 401: "unauthenticated", 403: "not_authorized", 404: "not_found",
             405: "method_not_allowed", 413: "too_large"}
    response = error_response(status, kinds.get(status, "http_error"), error.description or error.name)
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path, exc_info=error)
    return error_response(500, "internal", "the service could not complete this request")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(PKIError, _pki_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
