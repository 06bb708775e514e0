"""`POST /api/v1/requests` of a live session answered in front of Flask, with Flask's own rules (issue 14 §1).

A CSR upload is the portal's busiest call, and Flask's request context, routing, hook chain and response
processing cost about as much CPU as recording the request. For a call of a logged-in person (the session
cookie and `X-CSRF-Token`, as the API documents), this WSGI layer — innermost, behind the proxy headers'
fix like Flask — runs the steps of the Flask path, each with the function Flask's path calls:

1. the request id: `ca.logs.request_id_from` (webapp.app._start_request);
2. the session cookie: the application's session interface (`open_session`, Flask's signature and age rule);
3. the same-site and CSRF checks: `cross_site`, `check_csrf_header` (webapp.api._authenticate);
4. the body: JSON by the application's provider, `body_object`, `nul_field` (webapp.app._refuse_nul),
   `upload_csr`, and the CSR's own check (`checked_csr`, as request_certificate does first);
5. the session, its person and company, by load_principal's rule (`fresh_principal`), and a person who
   may request (`Principal.may_request`, member_required): read in the transaction that records the batch
   of uploads (`request_batcher.submit_for_session`), one statement per batch instead of one per call;
6. the use case (recorded and audited, issued under `auto`; the ledger row is committed before it
   returns) and its answer `upload_answer`, or its error through webapp.errors;
7. the headers: `apply_security_headers`, then the session interface's `save_session` (Vary: Cookie).

A call it is not sure of goes to Flask, untouched, before anything is written: another path or method, a
query string, a body not declared JSON or without a Content-Length or over MAX_CONTENT_LENGTH, an
Authorization header (OAuth2), no session cookie, a cross-site call, a bad CSRF token, a body the API
refuses, a CSR check_csr refuses, a session to touch, end or refuse, a person who may not request. So
every refusal before the use case is Flask's own answer, and what this layer answers itself is the use
case's outcome.

It also stands aside entirely while the Flask path of this call is not the one it mirrors (`MIRRORED`):
the same view, routed the same way, the same hooks and nothing else (a rate limit, which Flask-Limiter would
add as a hook or a decorated view, turns it off), the API blueprint exempt from the form CSRF check.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from flask import Flask, Request, Response
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ca.errors import BadRequestError, PKIError
from ca.logs import REQUEST_ID, request_id_from
from ca.runtime import Runtime
from ca.x509.csr import checked_csr
from enrollment.requests.request_batcher import submit_for_session
from webapp.api import body_object, cross_site, new_request, upload_answer, upload_csr
from webapp.api.csrf_header import check_csrf_header
from webapp.app import apply_security_headers, nul_field
from webapp.errors import pki_error_response, unexpected_response
from webapp.portal.auth import SESSION_KEY

log = logging.getLogger("portail.web")
PATH = "/api/v1/requests"
ENDPOINT = "api.new_request"
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The Flask path of this call, hook by hook, and the step above that does its work (or why it has none).
MIRRORED: dict[str, dict[str, str]] = {
    "before": {
        "flask_wtf.csrf.CSRFProtect.init_app.<locals>.csrf_protect": "none: the API blueprint is exempt",
        "webapp.app._start_request": "1",
        "webapp.portal.auth.load_principal": "2, 5",
        "webapp.i18n._remember_choice": "none: read for _keep_choice",
        "webapp.app._refuse_nul": "4 (no query string, no form)",
    },
    "api": {"webapp.api._authenticate": "3 (no Authorization header; the principal is the session's)"},
    "values": {"webapp.portal.auth.check_ids": "none: the route has no URL values"},
    "after": {
        "flask_limiter._extension.Limiter.__inject_headers": "none: no limit was checked",
        "webapp.i18n._keep_choice": "none: it writes only when a login or logout replaced the session",
        "webapp.app._security_headers": "7",
    },
}


def _name(hook: Any) -> str:
    function = getattr(hook, "func", hook)  # a functools.partial (Flask-Limiter's)
    return f"{function.__module__}.{function.__qualname__}".replace("._Limiter__", ".__")


class UploadFastPath:
    """WSGI: the CSR uploads of live sessions answered here, everything else by `flask_app` (Flask's own
    wsgi_app). `enabled` is for tests that compare both paths; `answered` counts the calls answered here."""

    def __init__(self, app: Flask, flask_app: WSGIApp) -> None:
        self.app = app
        self.flask_app = flask_app
        self.enabled = True
        self.answered = 0
        self._mirrors: bool | None = None  # decided at the first call, once create_app has registered all
        app.extensions["portail.upload_fast_path"] = self

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST" and self.active():
            response = self._answer(environ)
            if response is not None:
                self.answered += 1
                return response(environ, start_response)
        return self.flask_app(environ, start_response)

    def active(self) -> bool:
        if self._mirrors is None:
            self._mirrors = not self._differences()
        return self.enabled and self._mirrors

    def _differences(self) -> list[str]:
        """How the Flask path of this call differs from MIRRORED (logged; any difference turns this off)."""
        app = self.app
        found = []
        try:
            routed = app.url_map.bind("localhost").match(PATH, method="POST")
        except HTTPException as error:
            routed = (repr(error), {})
        if routed != (ENDPOINT, {}) or app.view_functions.get(ENDPOINT) is not new_request:
            found.append(f"{PATH} is routed to {routed!r}, view {app.view_functions.get(ENDPOINT)!r}")
        hooks: dict[str, list[Any]] = {"before": list(app.before_request_funcs.get(None, [])),
                                       "api": list(app.before_request_funcs.get("api", [])),
                                       "values": list(app.url_value_preprocessors.get(None, [])),
                                       "after": list(app.after_request_funcs.get(None, []))}
        for kind, expected in MIRRORED.items():
            names = [_name(hook) for hook in hooks[kind]]
            if sorted(names) != sorted(expected):
                found.append(f"{kind} hooks {names}")
        others: dict[Any, Any] = {k: v for k, v in app.after_request_funcs.items() if k is not None and v}
        others.update({f"before:{k}": v for k, v in app.before_request_funcs.items() if k not in (None, "api") and v})
        others.update({f"values:{k}": v for k, v in app.url_value_preprocessors.items() if k is not None and v})
        if others:
            found.append(f"more hooks {others!r}")
        csrf = app.extensions.get("csrf")
        if csrf is None or app.blueprints.get("api") not in getattr(csrf, "_exempt_blueprints", ()):
            found.append("the API blueprint is not exempt from the form CSRF check")
        if found:
            log.warning("the CSR upload fast path is off, Flask answers every upload: %s", "; ".join(found))
        return found

    def _answer(self, environ: dict[str, Any]) -> Response | None:
        """The answer of steps 1-7, or None: Flask answers (nothing was written)."""
        call = self.app.request_class(environ)
        body = self._body(environ, call)
        if body is None:
            return None
        REQUEST_ID.set(request_id_from(environ.get("HTTP_X_REQUEST_ID")))
        app = self.app
        sessions = app.session_interface
        session = sessions.open_session(app, call)
        if session is not None:
            session.accessed = True  # read, as through Flask's RequestContext.session: "Vary: Cookie"
        token = session.get(SESSION_KEY) if session is not None else None
        if not token or not isinstance(token, str) or cross_site(call):
            return None
        try:
            check_csrf_header(app, session, call.headers.get("X-CSRF-Token"))  # type: ignore[arg-type]
        except CSRFError:
            return None
        csr = self._csr(body)
        if csr is None:
            return None
        response = self._issue(app.extensions["portail.runtime"], token, csr, call.remote_addr)
        if response is None:
            return None
        apply_security_headers(response.headers, secure=call.is_secure, static=False)
        if session is not None and not sessions.is_null_session(session):
            sessions.save_session(app, session, response)
        return response

    def _body(self, environ: dict[str, Any], call: Request) -> bytes | None:
        """The body, read once and put back for Flask; None for a call Flask answers."""
        if environ.get("QUERY_STRING") or "HTTP_AUTHORIZATION" in environ or not call.is_json:
            return None
        length = call.content_length
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if length is None or (limit is not None and length > limit):
            return None
        try:
            body = environ["wsgi.input"].read(length)
        except Exception:  # noqa: BLE001 - the client went away: Flask answers what it reads (nothing)
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    def _csr(self, body: bytes) -> bytes | None:
        """The CSR of a body the API takes (a JSON object, not too deep, no NUL, `csr` a string), or None."""
        try:
            data = body_object(self.app.json.loads(body))
            return None if nul_field(data, "body") else upload_csr(data)
        except (ValueError, RecursionError, BadRequestError):
            return None

    def _issue(self, runtime: Runtime, token: str, csr: bytes, source_ip: str | None) -> Response | None:
        """Steps 4 (the CSR), 5 and 6: the use case's outcome, 201, or its error as webapp.errors answers it; None when
        the CSR is refused before the session was read, or the session is not one to resume as it is."""
        try:
            checked = checked_csr(csr)  # as request_certificate does first
        except PKIError:
            return None
        try:
            outcome = submit_for_session(runtime, token, checked, source_ip=source_ip)
            if outcome is None:
                return None
        except PKIError as error:
            with self.app.app_context():
                return pki_error_response(error, method="POST", path=PATH, as_json=True)
        except Exception as error:  # noqa: BLE001 - a bug: logged, answered 500 without detail, as Flask does
            with self.app.app_context():
                return unexpected_response(error, method="POST", path=PATH, as_json=True)
        response = cast(Response, self.app.json.response(upload_answer(outcome)))
        response.status_code = 201
        return response
