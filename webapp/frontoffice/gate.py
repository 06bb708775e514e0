"""The gate: a WSGI middleware in front of the front office (issue 5).

Where the client certificate comes from depends on the mode, never on the request:
- `direct`: the TLS connection itself. `pkictl serve frontoffice` runs cheroot with pyOpenSSL
  (webapp/frontoffice/direct_tls.py): the connection carries the presented certificate and OpenSSL's
  verdict, so an expired certificate or another CA's reaches the gate and is refused with its page and a
  `gate.refused` event; a socket verified by Python's `ssl` (`environ['gunicorn.socket']`) is read too.
  Any certificate header is ignored.
- `proxy`: nginx terminated mutual TLS and sent the certificate in `frontoffice.proxy_header`
  ($ssl_client_escaped_cert) and its verdict in `frontoffice.proxy_verify_header` ($ssl_client_verify).
  These headers are read only when REMOTE_ADDR is one of `frontoffice.trusted_proxies`; from any other
  address they are ignored and the request is refused as having no certificate.
Then the application's `Gatekeeper` (enrollment.access.gatekeeper) decides from the ledger. An allowed
request reaches the application with the decision in `environ['pki.access']`; a refused one gets the
refusal page (403, or 404 for an unknown service) in HTML or JSON.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from ca.errors import LedgerUnavailableError
from ca.logs import REQUEST_ID, request_id_from
from ca.metrics import GATE_DECISIONS, FastCounts
from ca.runtime import Runtime
from enrollment.access.bounded import BoundedDict
from enrollment.access.decision import portal_url
from enrollment.access.gatekeeper import Gatekeeper, certificate_digest
from enrollment.access.views import AccessDecision
from webapp.frontoffice.direct_tls import ENVIRON_CONNECTION
from webapp.frontoffice.direct_tls import client_certificate as direct_certificate
from webapp.frontoffice.pages import refusal, unavailable
from webapp.frontoffice.words import DEFAULT_LOCALE_KEY
from webapp.health import HEALTH_PATHS, HealthEndpoints
from webapp.trusted_proxy import TrustedProxy

log = logging.getLogger("pki.frontoffice")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ENVIRON_KEY = "pki.access"
_SERVICE_PATH = re.compile(r"^/services/([^/]+)/?(?:points/([^/]+)/?)?$")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_NO_ROUTE: tuple[str | None, str | None] = (None, None)
MAX_HEADERS = 10_000  # decoded certificate headers remembered (proxy mode): the same bound as the gate's


def route(path: str) -> tuple[str | None, str | None]:
    """(service, connection point) a path asks for: `/services/<code>[/points/<point>]`, else (None, None)."""
    if path == "/":  # the home page, most requests: no pattern to run
        return _NO_ROUTE
    match = _SERVICE_PATH.match(path)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def pem_to_der(value: str) -> bytes:
    """The first certificate of a (URL-encoded, RFC 7468) PEM value; b'' when there is none."""
    match = _PEM.search(unquote(value).encode("ascii", "replace"))
    if not match:
        return b""
    try:
        return base64.b64decode(b"".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return b"\x00"  # present but unreadable: the decision says so


class Gate:
    def __init__(self, app: WSGIApp, runtime: Runtime, *, mode: str) -> None:
        if mode not in ("direct", "proxy"):
            raise ValueError(f"unknown gate mode {mode!r}")
        settings = runtime.settings.frontoffice
        self.app = app
        self.runtime = runtime
        self.mode = mode
        # One rule with the portal's API (webapp/trusted_proxy.py); direct mode never reads the header.
        self.proxy = TrustedProxy.configure(
            addresses=settings.trusted_proxy_addresses if mode == "proxy" else (),
            cert_header=settings.proxy_header if mode == "proxy" else "",
            verify_header=settings.proxy_verify_header, where="frontoffice.trusted_proxies (proxy mode)")
        self.gatekeeper = Gatekeeper(runtime)
        self.health = HealthEndpoints(runtime, "frontoffice")
        # The header nginx sends for one certificate is the same string on every request: decode it once.
        self._decoded: BoundedDict[str, tuple[bytes, str]] = BoundedDict(MAX_HEADERS)
        self._default_locale = runtime.settings.portal.default_locale
        self._clock = runtime.clock
        self._lock = threading.Lock()
        # Kept by the gate: ca.metrics holds FastCounts weakly, so a FastCounts nobody keeps is never flushed.
        self._fast_counts = FastCounts(GATE_DECISIONS, ("ok",))
        self._counts = self._fast_counts.counts

    def client_certificate(self, environ: dict[str, Any]) -> tuple[bytes, str | None]:
        """(certificate DER or b'', why it cannot be trusted or None)."""
        der, _, tls_error = self._certificate(environ)
        return der, tls_error

    def _certificate(self, environ: dict[str, Any]) -> tuple[bytes, str | None, str | None]:
        """(DER or b'', its digest when remembered, why it cannot be trusted or None)."""
        if self.mode == "direct":
            if ENVIRON_CONNECTION in environ:
                der, tls_error = direct_certificate(environ)
                return der, None, tls_error
            sock = environ.get("gunicorn.socket")
            getpeercert = getattr(sock, "getpeercert", None)
            peer = getpeercert(binary_form=True) if getpeercert is not None else None
            return (peer or b""), None, None
        forwarded = self.proxy.forwarded(environ)
        if not forwarded.certificate:  # none, or not to be read (then `refusal` says why)
            return b"", "", forwarded.refusal
        der, digest = self._decode(forwarded.certificate)
        return der, digest, (forwarded.refusal if der else None)

    def _decode(self, header: str) -> tuple[bytes, str]:
        held = self._decoded.get(header)
        if held is None:
            der = pem_to_der(header)
            held = (der, certificate_digest(der))
            with self._lock:
                self._decoded[header] = held
        return held

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path in HEALTH_PATHS:  # probes: before any decision, never audited
            answer = self.health.handle(environ, start_response)
            assert answer is not None
            return answer
        REQUEST_ID.set(request_id_from(environ.get("HTTP_X_REQUEST_ID")))
        environ[DEFAULT_LOCALE_KEY] = self._default_locale  # the pages' language
        der, digest, tls_error = self._certificate(environ)
        service, point = route(path)
        now = self._clock.now()
        try:
            decision = self.gatekeeper.decide(certificate_der=der, service=service, connection_point=point,
                                              tls_error=tls_error, source_ip=environ.get("REMOTE_ADDR"),
                                              digest=digest, now=now)
        except LedgerUnavailableError:
            log.warning("ledger unavailable: the gate refuses every request until it is back")
            GATE_DECISIONS.labels("ledger_unavailable").inc()
            return unavailable(environ, start_response, portal_url(self.runtime))
        count = self._counts.get(decision.code)
        if count is not None:
            next(count)
        else:
            GATE_DECISIONS.labels(decision.code).inc()
        if not decision.allowed:
            return refusal(environ, start_response, decision)
        self._record_use(decision, now)
        environ[ENVIRON_KEY] = decision
        return self.app(environ, start_response)

    def _record_use(self, decision: AccessDecision, now: datetime) -> None:
        try:
            self.gatekeeper.record_last_use(decision, now)
        except Exception:  # noqa: BLE001  (a busy ledger must not turn an allowed request away)
            log.exception("could not record the last use of certificate %s", decision.serial)
