"""Repository WSGI application: CA certificates and CRLs by dictionary lookup, and the OCSP responder.

A bare WSGI callable (no Flask): the OCSP hot path is one dictionary lookup on the raw request bytes.
The document table is rebuilt at most every `refresh_seconds` so new CRLs and issuers appear without a
restart. Every OCSP outcome, failures included, is a DER OCSPResponse with HTTP 200 (RFC 6960 §2.3).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from ca.errors import LedgerUnavailableError
from ca.runtime import Runtime
from ca.x509 import repository_paths as paths
from revocation.ocsp import Answer, OCSPService
from revocation.repository import Document, repository_documents
from webapp.health import HEALTH_PATHS, HealthEndpoints
from webapp.look import browser_locale
from webapp.repository.index_page import index_documents, index_path

StartResponse = Callable[..., Any]
OCSP_TYPE = "application/ocsp-response"
MAX_OCSP_REQUEST = 64 * 1024
_OCSP_HEADERS_POST = [("Content-Type", OCSP_TYPE)]
_OCSP_GET_PREFIX = paths.OCSP + "/"
_INDEX_PATHS = frozenset((paths.INDEX, paths.PREFIX, paths.INDEX + "index.html"))  # /pki/, /pki, /pki/index.html
log = logging.getLogger("portail.repository")


class RepositoryApp:
    def __init__(self, runtime: Runtime, refresh_seconds: float = 2.0, ocsp: OCSPService | None = None) -> None:
        self.runtime = runtime
        self.refresh_seconds = refresh_seconds
        self.ocsp = ocsp if ocsp is not None else OCSPService(runtime)
        self._documents: dict[str, Document] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self.health = HealthEndpoints(runtime, "repository", ocsp=self.ocsp, crls=True)

    def documents(self) -> dict[str, Document]:
        """The table, rebuilt every `refresh_seconds`; while the ledger is unavailable the last table keeps
        being served (CA certificates and CRL files do not change because the database is down)."""
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            # One thread rebuilds; the others serve the table they have rather than wait for a slow ledger.
            if not self._lock.acquire(blocking=not self._documents):
                return self._documents
            try:
                if time.monotonic() - self._loaded_at > self.refresh_seconds:
                    try:
                        self._documents = self._with_index(repository_documents(self.runtime))
                    except LedgerUnavailableError:
                        log.warning("ledger unavailable: serving the repository table loaded before")
                    self._loaded_at = time.monotonic()
            finally:
                self._lock.release()
        return self._documents

    def _with_index(self, documents: dict[str, Document]) -> dict[str, Document]:
        settings = self.runtime.settings
        return {**documents, **index_documents(documents, base_url=settings.repository.base_url,
                                               portal_url=settings.portal.base_url)}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == paths.OCSP or path == _OCSP_GET_PREFIX:
            if method == "POST":
                return self._ocsp_post(environ, start_response)
            if method == "GET":  # an empty GET request: still an OCSP answer (RFC 6960 §2.3), not an HTML error
                return self._ocsp_get(environ, start_response)
            return _text(start_response, "405 Method Not Allowed", "OCSP requests are POSTed here\n")
        if path.startswith(_OCSP_GET_PREFIX):
            if method != "GET":
                return _text(start_response, "405 Method Not Allowed", "method not allowed\n")
            return self._ocsp_get(environ, start_response)
        if path in HEALTH_PATHS:
            answer = self.health.handle(environ, start_response)
            assert answer is not None
            return answer
        if method not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "method not allowed\n")
        index, locale = path in _INDEX_PATHS, ""
        if index:  # the index in the browser's language (RFC 9110 §12.5.4), which caches must key on
            locale = browser_locale(environ, self.runtime.settings.portal.default_locale)
            document = self.documents().get(index_path(locale))
        else:
            document = self.documents().get(path)
        if document is None:
            return _text(start_response, "404 Not Found", f"not found: {path}\n")
        start_response("200 OK", [("Content-Type", document.media_type),
                                  ("Content-Length", str(len(document.body))),
                                  ("Cache-Control", "public, max-age=300")]
                       + ([("Vary", "Accept-Language"), ("Content-Language", locale)] if index else []))
        return [b"" if method == "HEAD" else document.body]

    # -- OCSP ------------------------------------------------------------------------------------------
    def _ocsp_post(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        body = environ["wsgi.input"].read(length) if 0 < length <= MAX_OCSP_REQUEST else b""
        answer = self.ocsp.respond(body=body)
        start_response("200 OK", [*_OCSP_HEADERS_POST, ("Content-Length", str(len(answer.der)))])
        return [answer.der]

    def _ocsp_get(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = self.ocsp.respond(get_path=_raw_tail(environ))
        headers = [("Content-Type", OCSP_TYPE), ("Content-Length", str(len(answer.der)))]
        headers += _cache_headers(answer, self.runtime.clock.now())
        start_response("200 OK", headers)
        return [answer.der]


def _raw_tail(environ: dict[str, Any]) -> str:
    """The undecoded request path when the server gives it (so %2F stays distinct), else PATH_INFO."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = urlsplit(raw).path if "://" in raw else raw.split("?", 1)[0]
        index = path.find(_OCSP_GET_PREFIX)
        if index >= 0:
            return path[index + len(_OCSP_GET_PREFIX):]
    return environ.get("PATH_INFO", "")[len(_OCSP_GET_PREFIX):]


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _cache_headers(answer: Answer, now: datetime) -> list[tuple[str, str]]:
    """RFC 5019 §6.2: max-age up to nextUpdate, Last-Modified = thisUpdate, Expires = nextUpdate, ETag."""
    if not answer.cacheable or answer.this_update is None or answer.next_update is None:
        return [("Cache-Control", "no-cache, no-store")]
    max_age = max(0, int((answer.next_update - now).total_seconds()))
    return [
        ("Cache-Control", f"max-age={max_age}, public, no-transform, must-revalidate"),
        ("Last-Modified", _http_date(answer.this_update)),
        ("Expires", _http_date(answer.next_update)),
        ("ETag", '"' + hashlib.sha1(answer.der).hexdigest() + '"'),
    ]


def _text(start_response: StartResponse, status: str, message: str) -> list[bytes]:
    body = message.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
