"""The web adapter's one error mapping (DESIGN §6): PKIError class → HTTP status, as HTML or JSON.

JSON for the API (`/api/`) and for clients that prefer it by Accept; HTML pages otherwise. The message
shown is str(error), which is safe by contract; anything unexpected is a bare 500 with no detail.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ca.errors import (
    BadRequestError,
    ConflictError,
    LintError,
    NotAuthorizedError,
    NotFoundError,
    PKIError,
    ServiceUnavailableError,
    SigningError,
    TooManyRequestsError,
    UnauthenticatedError,
)
from webapp.error_messages import N_
from webapp.i18n import translate_message

log = logging.getLogger("portail.web")

# One mapping, by class: the most specific class of the error's MRO that is listed here wins (DESIGN §6).
STATUS_BY_CLASS: dict[type, int] = {
    BadRequestError: 400,
    UnauthenticatedError: 401,
    NotAuthorizedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    LintError: 422,
    SigningError: 503,
    ServiceUnavailableError: 503,
    TooManyRequestsError: 429,
}
RETRY_AFTER_SECONDS = 5


def status_for(error: PKIError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return 500


TITLES = {400: N_("This cannot be done as asked"), 401: N_("Please log in"), 403: N_("Not allowed"),
          404: N_("Not found"), 405: N_("Not allowed"), 409: N_("Already done or in conflict"),
          413: N_("Too large"), 422: N_("This cannot be issued"), 429: N_("Too many attempts"),
          500: N_("Something went wrong"), 503: N_("Temporarily unavailable")}
INTERNAL = N_("the service could not complete this request")
CSRF_REFUSED = N_("the form expired or did not come from this site: reload the page and try again")
RATE_LIMITED = N_("too many attempts: wait a few minutes and try again")
# Werkzeug's own descriptions are English only: a page says these instead (the JSON API keeps werkzeug's).
HTTP_TEXTS = {400: N_("the request could not be understood"), 404: N_("there is no page at this address"),
              405: N_("this address does not take this kind of request"), 413: N_("what was sent is too large")}


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, kind: str, message: str, *, as_json: bool | None = None) -> Response:
    """The error answer; `as_json` None: as the request prefers (wants_json). Needs an application context."""
    if as_json if as_json is not None else wants_json():
        response = jsonify({"error": {"kind": kind, "message": message}})
    else:  # the page in the reader's language; the JSON above stays English, as programs read it (webapp.i18n)
        response = Response(render_template("error.html", status=status,
                                            title=translate_message(TITLES.get(status, N_("Error"))),
                                            message=translate_message(message)), mimetype="text/html")
    response.status_code = status
    return response


def pki_error_response(error: PKIError, *, method: str, path: str, as_json: bool | None = None) -> Response:
    """The answer to a PKIError of the request `method` `path`: Flask's handler below, and the JSON API's
    upload path that runs without a request context (webapp.api.upload_fast_path)."""
    status = status_for(error)
    if status >= 500:
        log.error("%s on %s %s: %s", type(error).__name__, method, path, error)
    if status == 500:  # a PKIError subclass nobody mapped: a bug, shown without detail
        return error_response(500, "internal", INTERNAL, as_json=as_json)
    response = error_response(status, error.kind, str(error), as_json=as_json)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _pki_error(error: PKIError) -> Response:
    return pki_error_response(error, method=request.method, path=request.path)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, CSRFError):
        return error_response(400, "csrf", CSRF_REFUSED)
    if status == 429:  # a security event (ASVS 16.3.1): which limit, from where
        log.warning("rate limit reached: %s %s (%s) from %s", request.method, request.path, error.description,
                    request.remote_addr)
        return error_response(429, "rate_limited", RATE_LIMITED)
    kinds = {400: "bad_request", 401: "unauthenticated", 403: "not_authorized", 404: "not_found",
             405: "method_not_allowed", 413: "too_large"}
    message = error.description or error.name
    if status in HTTP_TEXTS and error.description == type(error).description and not wants_json():
        message = HTTP_TEXTS[status]
    response = error_response(status, kinds.get(status, "http_error"), message)
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def unexpected_response(error: Exception, *, method: str, path: str, as_json: bool | None = None) -> Response:
    """A bug: logged with its traceback, answered 500 without detail."""
    log.exception("unexpected error on %s %s", method, path, exc_info=error)
    return error_response(500, "internal", INTERNAL, as_json=as_json)


def _unexpected(error: Exception) -> Response:
    return unexpected_response(error, method=request.method, path=request.path)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(PKIError, _pki_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
