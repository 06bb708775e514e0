"""Who is calling: the session cookie (portal and API) or a client certificate (API only).

The cookie holds a random session token (signed by Flask); enrollment.sessions checks it against the
ledger on every request, so logout, timeouts and detachment take effect at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import current_app, g, redirect, request, session, url_for

from ca.actor import Actor
from ca.errors import NotAuthorizedError, NotFoundError, UnauthenticatedError
from ca.runtime import Runtime
from enrollment.accounts.sessions import authenticate_certificate, refuse_forwarded_certificate, resume_session
from enrollment.accounts.views import Principal
from enrollment.mail import MailQueue
from webapp.trusted_proxy import TrustedProxy, peer_address

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "sid"
# Ids in URLs (`<ID:name>`): the database's INTEGER is 32-bit; check_ids() makes larger ones "not found".
ID = "int"
MAX_ID = 2**31 - 1


def check_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """url_value_preprocessor: an id no row can have is not found (not a database overflow, not a 405)."""
    for value in (values or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise NotFoundError("no such object")


def runtime() -> Runtime:
    return current_app.extensions["portail.runtime"]


def mail_queue() -> MailQueue:
    return current_app.extensions["portail.mail_queue"]


def source_ip() -> str | None:
    return request.remote_addr


def load_principal() -> None:
    """before_request: g.principal is the logged-in person or None (an ended session is forgotten)."""
    g.principal = None
    g.auth_method = None
    if request.endpoint == "static":
        return
    token = session.get(SESSION_KEY)
    if token:
        try:
            g.principal = resume_session(runtime(), token, source_ip=source_ip())
            g.auth_method = "session"
        except NotAuthorizedError:
            session.clear()
            g.session_ended = True


def load_certificate_principal() -> None:
    """API only: a client certificate from the TLS terminator, when no session was found."""
    if g.principal is not None:
        return
    pem = request.environ.get("SSL_CLIENT_CERT")  # set by the WSGI server that terminated TLS itself
    if not pem:
        proxy: TrustedProxy = current_app.extensions["portail.trusted_proxy"]
        forwarded = proxy.forwarded(request.environ)
        if forwarded.refusal is not None:
            refuse_forwarded_certificate(runtime(), reason=forwarded.refusal, source_ip=peer_address(request.environ))
        pem = forwarded.certificate
    if not pem:
        return
    g.principal = authenticate_certificate(runtime(), certificate=unquote(pem).encode("ascii", "replace"),
                                           source_ip=source_ip())
    g.auth_method = "certificate"


def principal() -> Principal | None:
    return g.get("principal")


def actor() -> Actor:
    current = principal()
    if current is None:
        raise UnauthenticatedError("log in first")
    return current.actor


def _guard(check: Callable[[Principal], bool], message: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            current = principal()
            if current is None:
                if request.path.startswith("/api/"):
                    raise UnauthenticatedError("log in first (session cookie or client certificate)")
                return redirect(url_for("public.login", next=request.full_path.rstrip("?")))
            if not check(current):
                raise NotAuthorizedError(message)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


login_required = _guard(lambda p: True, "")
member_required = _guard(lambda p: p.may_request, "you must belong to a company to do this")
admin_required = _guard(lambda p: p.is_admin, "only a company administrator may do this")
first_admin_required = _guard(lambda p: p.is_first_admin, "only the first administrator may do this")
operator_required = _guard(lambda p: p.is_operator, "only a CA operator may do this")
