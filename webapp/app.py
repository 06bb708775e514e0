"""The enrollment portal (HTML) and its JSON API: create_app(settings) (DESIGN §2, issue 4).

Security settings in one place (OWASP ASVS 5.0 level 2):
- session cookie Secure, HttpOnly, SameSite=Lax, `__Host-` prefixed when served over HTTPS (V3.3);
  its content is only a random token checked server-side (V7), rotated at login;
- CSRF token on every state-changing request (Flask-WTF; the API asks for it in `X-CSRF-Token` when a
  cookie authenticates the call) (V3.5);
- failed logins limited per account and per address (flask-limiter) (V6.3);
- a strict Content-Security-Policy, no framing, no caching of authenticated pages (V3.4, V14).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import Headers
from werkzeug.middleware.proxy_fix import ProxyFix

from ca.actor import SYSTEM
from ca.clock import Clock
from ca.errors import BadRequestError, LedgerUnavailableError
from ca.logs import REQUEST_ID, request_id_from
from ca.runtime import Runtime, build_runtime
from ca.settings import Settings
from enrollment.groups.services import seed_services
from enrollment.mail import MailQueue
from revocation.ocsp import attach_presigner
from webapp.errors import register_error_handlers
from webapp.health import HealthEndpoints, HealthMiddleware
from webapp.i18n import init_i18n
from webapp.trusted_proxy import TrustedProxy

log = logging.getLogger("portail.web")
HERE = Path(__file__).resolve().parent
MAX_UPLOAD_BYTES = 256 * 1024


def session_secret(path: Path) -> bytes:
    """The cookie-signing key: read from its file, or created (0600) with 32 random bytes on first start."""
    try:
        value = path.read_bytes().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker created it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(value + b"\n")
    if len(value) < 32:
        raise ValueError(f"session secret in {path} is shorter than 32 characters")
    return value


def _start_request() -> None:
    REQUEST_ID.set(request_id_from(request.headers.get("X-Request-ID")))


def _security_headers(response: Response) -> Response:
    apply_security_headers(response.headers, secure=request.is_secure, static=request.endpoint == "static")
    return response


def apply_security_headers(headers: Headers, *, secure: bool, static: bool) -> None:
    """The headers of every answer of the portal (after_request, and the API's upload path,
    webapp.api.upload_fast_path): request id, CSP, no sniffing or framing, HSTS over HTTPS, no caching."""
    request_id = REQUEST_ID.get()
    if request_id:
        headers.setdefault("X-Request-ID", request_id)
    headers.setdefault("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                       "form-action 'self'; frame-ancestors 'none'")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not static:  # pages show personal data: never stored by a cache (ASVS 14.3.2)
        headers.setdefault("Cache-Control", "no-store")


# Fields whose own check refuses every control character with a message of its own (the login's return path).
_OWN_CONTROL_CHECK = frozenset({"next"})
MAX_JSON_DEPTH = 32


def nul_field(value: object, name: str, depth: int = 0) -> str | None:
    """The name of the first field holding U+0000, walking JSON no deeper than MAX_JSON_DEPTH."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequestError(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        return name if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = nul_field(key, name, depth + 1) or nul_field(item, str(key), depth + 1)
        if found:
            return found
    return None


def _refuse_nul() -> None:
    """No field, query parameter or path of ours may hold U+0000: PostgreSQL text cannot store it, so a NUL
    in a login e-mail or a group name reached the ledger and answered 500 (found by tests/fuzz). Refused here,
    at the edge, with a 400 naming the field, for every page and the API. Uploaded files (a DER CSR) are not
    fields."""
    found = nul_field(request.path, "path")
    for source in (request.args, request.form):
        for key, values in source.lists():
            if key in _OWN_CONTROL_CHECK:
                continue
            found = found or nul_field(key, key) or next(filter(None, (nul_field(v, key) for v in values)), None)
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            raise BadRequestError(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep") from None
        found = found or nul_field(body, "body")
    if found:
        raise BadRequestError(f"the field {found!r} contains the NUL character (U+0000), which is not allowed")
# A shared store (Redis) that stops answering must not hang a request: connecting and each command give up
# after this many seconds, and the limiter then falls back to memory (limiter_storage).
RATELIMIT_STORE_TIMEOUT_SECONDS = 1.0


def limiter_storage(uri: str) -> dict[str, object]:
    """Flask-Limiter's storage arguments for `portal.ratelimit_storage` (config/default.toml).

    Several workers share their counters through a Redis store, so a limit holds whichever worker answers.
    When the store is down or silent, each worker counts in its own memory (`in_memory_fallback_enabled`,
    the same limits: at most workers × limit attempts instead of limit) and logs it once; it goes back to
    the shared store when that answers again (Flask-Limiter re-checks it with a growing delay). Logins
    never fail because of the limiter's store: never an HTTP 500 (a counter lost in the switch is logged,
    `swallow_errors`), and not a 503 either, which would let a Redis outage lock everyone out.
    """
    arguments: dict[str, object] = {"storage_uri": uri, "in_memory_fallback_enabled": True, "swallow_errors": True}
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        arguments["storage_options"] = {"socket_connect_timeout": RATELIMIT_STORE_TIMEOUT_SECONDS,
                                        "socket_timeout": RATELIMIT_STORE_TIMEOUT_SECONDS}
    return arguments


def _limit_decorated_routes_only(app: Flask, limiter: Limiter) -> None:
    """Every limit of ours is a decorator on its view (the login, sign-up and reset pages, the OAuth2
    endpoints), and such a view checks its own limits when called, in memory too when the shared store is
    down (Flask-Limiter's `LimitDecorator`). The limiter's before_request hook only adds default,
    application, blueprint and meta limits — none is configured — yet it resolved the limits of every
    request (~5 % of a `POST /api/v1/requests`, issue 14 §1). It is left out while none of those exists;
    one configured later brings it back."""
    manager = limiter.limit_manager
    if (manager.default_limits or manager.application_limits or getattr(manager, "_blueprint_limits", True)
            or getattr(limiter, "_meta_limits", True)):
        return
    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [hook for hook in hooks if hook != limiter._check_request_limit]


def _start_runtime(settings: Settings, clock: Clock | None) -> Runtime:
    """A worker that starts while the ledger is down still starts: it answers 503 until the ledger is back
    (`pkictl serve` migrated the schema before the workers started)."""
    try:
        return build_runtime(settings, clock)
    except LedgerUnavailableError as error:
        log.error("ledger unavailable at start, serving 503 until it is back: %s", error)
        return build_runtime(settings, clock, migrate=False)


def create_app(settings: Settings, clock: Clock | None = None, runtime: Runtime | None = None) -> Flask:
    portal = settings.portal
    runtime = attach_presigner(runtime or _start_runtime(settings, clock))
    app = Flask("webapp", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    https = portal.base_url.lower().startswith("https://")
    app.config.update(
        SECRET_KEY=session_secret(portal.secret_file),
        SESSION_COOKIE_NAME="__Host-portail" if https else "portail",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session, which has its own idle and absolute limits
        WTF_CSRF_SSL_STRICT=https,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    # Innermost, behind the proxy headers' fix like Flask: the API's CSR uploads (webapp.api.upload_fast_path).
    from webapp.api.upload_fast_path import UploadFastPath

    app.wsgi_app = UploadFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    if portal.proxy_hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=portal.proxy_hops, x_proto=portal.proxy_hops,  # type: ignore[method-assign]
                                x_host=portal.proxy_hops)
    app.extensions["portail.runtime"] = runtime
    app.extensions["portail.mail_queue"] = MailQueue()
    app.extensions["portail.trusted_proxy"] = TrustedProxy.configure(
        addresses=portal.trusted_proxies, cert_header=portal.client_cert_header,
        verify_header=portal.proxy_verify_header, where="portal.client_cert_header")
    # Probes and metrics answer before Flask (sessions, limiter, error pages): an outage cannot reach them.
    app.wsgi_app = HealthMiddleware(app.wsgi_app, HealthEndpoints(runtime, "portal"))  # type: ignore[method-assign]
    csrf = CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, strategy="moving-window",
                      **limiter_storage(portal.ratelimit_storage))  # type: ignore[arg-type]
    app.extensions["portail.limiter"] = limiter

    from webapp.api import create_api_blueprint
    from webapp.portal import register_portal

    app.before_request(_start_request)  # first: every later step logs with the request's id
    register_portal(app, limiter)
    init_i18n(app)
    api = create_api_blueprint()
    csrf.exempt(api)  # the API checks X-CSRF-Token itself when a session cookie authenticates a call
    app.register_blueprint(api)
    from webapp.oauth import register_oauth

    register_oauth(app, runtime, csrf)
    register_error_handlers(app)
    _limit_decorated_routes_only(app, limiter)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)
    try:
        seed_services(runtime, SYSTEM)
    except Exception as exc:  # noqa: BLE001  (a bad services file must not stop the portal)
        log.error("services not loaded: %s", exc)
    return app
