"""Serving the front office (issue 5). Why two servers is explained in docs/frontoffice.md; in short:

- `direct` mode: gunicorn (gthread workers) with Python's `ssl`, because the gate needs the verified client
  certificate of the connection and gunicorn hands the application the TLS socket itself
  (`environ['gunicorn.socket']`). granian verifies client certificates but gives the application no way to
  read them (granian issues #788 and #854: only an ASGI extension, not released), so it cannot serve here.
- `proxy` mode: nginx terminates mutual TLS (its handshakes are the cheapest we measured with a client
  certificate) and granian serves the gate over plain HTTP on a loopback address.

This module holds the two application factories and the TLS context of direct mode; the gunicorn settings
are in `webapp/frontoffice/gunicorn_conf.py`.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time

from ca.logs import configure_logging
from ca.runtime import Runtime, build_runtime
from ca.settings import FrontOfficeSettings, load_settings
from enrollment.access.tls import key_passphrase, write_client_ca_bundle
from webapp.frontoffice import Gate, create_frontoffice

log = logging.getLogger("pki.frontoffice")
BUNDLE_REFRESH_SECONDS = 60.0
CONTEXT_CHECK_SECONDS = 2.0


def build_ssl_context(settings: FrontOfficeSettings, passphrase: bytes) -> ssl.SSLContext:
    """TLS 1.2+ server context that asks for (or requires) a client certificate chaining to our issuers.

    The issuers themselves are the trust anchors (X509_V_FLAG_PARTIAL_CHAIN), not the root: a certificate
    from an issuer the ledger no longer lists (removed) cannot complete the handshake, even if the client
    sends that issuer's certificate signed by our root along with its own.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS")  # TLS 1.2 suites; 1.3 ones are fixed
    context.load_cert_chain(str(settings.server_cert_file), str(settings.server_key_file), password=passphrase)
    context.load_verify_locations(cafile=str(settings.client_ca_file))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.verify_mode = ssl.CERT_OPTIONAL if settings.missing_certificate_page else ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


class ServerContext:
    """One SSLContext per worker process, rebuilt when the client CA bundle file changes."""

    def __init__(self, settings: FrontOfficeSettings) -> None:
        self.settings = settings
        self._passphrase = key_passphrase(settings.server_key_passphrase_file)
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._context = build_ssl_context(settings, self._passphrase)

    def _file_stamp(self) -> tuple[float, ...]:
        files = (self.settings.client_ca_file, self.settings.server_cert_file, self.settings.server_key_file)
        return tuple(os.stat(path).st_mtime for path in files)

    def get(self) -> ssl.SSLContext:
        if time.monotonic() - self._checked > CONTEXT_CHECK_SECONDS:
            with self._lock:
                self._checked = time.monotonic()
                try:
                    stamp = self._file_stamp()
                    if stamp != self._stamp:
                        self._context = build_ssl_context(self.settings, self._passphrase)
                        self._stamp = stamp
                except (OSError, ssl.SSLError):
                    log.exception("keeping the previous TLS context: the new files could not be loaded")
        return self._context


_CONTEXT: ServerContext | None = None
_CONTEXT_LOCK = threading.Lock()


def server_context(settings: FrontOfficeSettings | None = None) -> ServerContext:
    """The process's context holder (built in each gunicorn worker, after the fork)."""
    global _CONTEXT
    with _CONTEXT_LOCK:
        if _CONTEXT is None:
            _CONTEXT = ServerContext(settings or load_settings(None, os.environ).frontoffice)
        return _CONTEXT


def _refresh_bundle_forever(runtime: Runtime, with_root: bool, stop: threading.Event) -> None:
    """A newly installed issuer becomes a trust anchor without a restart (ServerContext sees the file)."""
    while not stop.wait(BUNDLE_REFRESH_SECONDS):
        try:
            write_client_ca_bundle(runtime, with_root=with_root)
        except Exception:  # noqa: BLE001  (a transient ledger error must not stop the refresher)
            log.exception("could not refresh the client CA bundle")


def _app(mode: str) -> Gate:
    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "frontoffice")
    runtime = build_runtime(settings, migrate=False)
    stop = threading.Event()
    threading.Thread(target=_refresh_bundle_forever, args=(runtime, mode == "proxy", stop),
                     name="client-ca-refresh", daemon=True).start()
    return create_frontoffice(runtime, mode=mode)


def direct_app() -> Gate:
    """gunicorn application (`webapp.frontoffice_server:direct_app()`): certificates from the TLS socket."""
    return _app("direct")


def proxy_app() -> Gate:
    """granian factory: plain HTTP behind nginx; certificates from the trusted proxy's header."""
    return _app("proxy")
