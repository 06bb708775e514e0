"""TLS of the front office in direct mode with pyOpenSSL, so that a certificate that fails verification
still reaches the gate, which refuses it with its page and its audit event (issue 15 item 5).

Python's `ssl` aborts the handshake when a presented certificate does not verify (expired, another CA):
the browser then shows its own error, and nothing is audited. OpenSSL's verify callback
(SSL_CTX_set_verify, exposed by pyOpenSSL's `Context.set_verify`) lets the server record each failure
— the X.509 error number and its depth in the chain — and complete the handshake anyway. The gate then
sees "this certificate, and verification failed because ...", and refuses it; it never grants access to a
connection whose verification failed or left no verdict (fail closed).

The issuers of the bundle are the trust anchors (X509_V_FLAG_PARTIAL_CHAIN), as before: a certificate of
a removed issuer does not verify even if the client sends that issuer signed by our root.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cheroot.ssl.pyopenssl import pyOpenSSLAdapter
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from OpenSSL import SSL, crypto

from ca.settings import FrontOfficeSettings
from enrollment.access.tls import key_passphrase
from webapp.frontoffice.words import N_

log = logging.getLogger("pki.frontoffice")
ENVIRON_CONNECTION = "pki.tls_connection"
CONTEXT_CHECK_SECONDS = 2.0
_CIPHERS = b"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS"  # TLS 1.2 suites; the TLS 1.3 ones are fixed
# OpenSSL's X509_V_ERR_* numbers (include/openssl/x509_vfy.h) the gate names in words.
# The words are marked for the catalogs: the refusal page shows them translated (webapp.frontoffice.words).
_X509_ERRORS = {
    9: N_("certificate is not yet valid"), 10: N_("certificate has expired"),
    18: N_("self-signed certificate"), 19: N_("self-signed certificate in the chain"),
    20: N_("unable to get the issuer certificate locally (unknown CA)"),
    21: N_("unable to verify the first certificate"),
    7: N_("certificate signature failure"), 24: N_("invalid CA certificate"), 26: N_("unsupported certificate purpose"),
}


@dataclass
class TLSVerdict:
    """What OpenSSL's verification said about one connection's client certificate."""

    errors: list[tuple[int, int]] = field(default_factory=list)  # (X509 error number, depth)

    def record(self, errnum: int, depth: int) -> None:
        if (errnum, depth) not in self.errors:
            self.errors.append((errnum, depth))


def describe(errnum: int, depth: int) -> str:
    """One failure in English, logs and audit alike; the shape of TLS_ERROR (webapp.frontoffice.words)."""
    words = _X509_ERRORS.get(errnum, N_("certificate verification failed"))
    return f"{words} (X509 error {errnum} at depth {depth})"


def _verify(connection: SSL.Connection, _cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
    """Record a failure and let the handshake finish: the gate, not the TLS layer, refuses."""
    if not ok:
        verdict = connection.get_app_data()
        if isinstance(verdict, TLSVerdict):
            verdict.record(errnum, depth)
        else:  # no verdict to write to: this connection can never be trusted
            return False
    return True


def _select_http11(_connection: SSL.Connection, offered: list[bytes]) -> bytes | object:
    """ALPN (RFC 7301 §3.2): HTTP/1.1 is all this server speaks."""
    return b"http/1.1" if b"http/1.1" in offered else SSL.NO_OVERLAPPING_PROTOCOLS


def build_context(settings: FrontOfficeSettings, passphrase: bytes) -> SSL.Context:
    """TLS 1.2+ server context asking for (or requiring) a client certificate; failures are recorded."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE | SSL.OP_SINGLE_ECDH_USE)
    context.set_cipher_list(_CIPHERS)
    context.use_certificate_chain_file(str(settings.server_cert_file))
    key = load_pem_private_key(settings.server_key_file.read_bytes(), passphrase)
    context.use_privatekey(key)  # type: ignore[arg-type]  (an EC key, the one tls.py makes)
    context.check_privatekey()
    context.load_verify_locations(str(settings.client_ca_file))
    context.load_client_ca(str(settings.client_ca_file).encode())  # browsers offer only our issuers' certificates
    context.get_cert_store().set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)  # type: ignore[union-attr]
    mode = SSL.VERIFY_PEER if settings.missing_certificate_page else SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    context.set_verify(mode, _verify)
    context.set_alpn_select_callback(_select_http11)
    return context


class ContextHolder:
    """The process's context, rebuilt when the client CA bundle (or the server certificate) file changes,
    so a newly installed issuer is trusted without a restart."""

    def __init__(self, settings: FrontOfficeSettings) -> None:
        self.settings = settings
        self._passphrase = key_passphrase(settings.server_key_passphrase_file)
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self._context = build_context(settings, self._passphrase)

    def _file_stamp(self) -> tuple[float, ...]:
        files = (self.settings.client_ca_file, self.settings.server_cert_file, self.settings.server_key_file)
        return tuple(os.stat(path).st_mtime for path in files)

    def get(self) -> SSL.Context:
        if time.monotonic() - self._checked > CONTEXT_CHECK_SECONDS:
            with self._lock:
                self._checked = time.monotonic()
                try:
                    stamp = self._file_stamp()
                    if stamp != self._stamp:
                        self._context = build_context(self.settings, self._passphrase)
                        self._stamp = stamp
                except (OSError, ValueError, SSL.Error, crypto.Error):
                    log.exception("keeping the previous TLS context: the new files could not be loaded")
        return self._context


class VerdictAdapter(pyOpenSSLAdapter):  # type: ignore[misc]
    """cheroot's pyOpenSSL adapter, one connection per accepted socket with the current context and a
    TLSVerdict; the WSGI environ carries the connection, so the gate reads the certificate and the verdict
    after the handshake (which runs on the first read, in the worker thread, not in the acceptor)."""

    def __init__(self, holder: ContextHolder) -> None:
        settings = holder.settings
        super().__init__(str(settings.server_cert_file), str(settings.server_key_file))
        self.holder = holder

    def bind(self, sock: Any) -> Any:
        return sock  # the listening socket stays plain; each accepted one is wrapped in `wrap`

    def wrap(self, sock: Any) -> tuple[SSL.Connection, dict[str, Any]]:
        connection = SSL.Connection(self.holder.get(), sock)
        connection.set_app_data(TLSVerdict())
        connection.set_accept_state()
        return connection, {"wsgi.url_scheme": "https", "HTTPS": "on", ENVIRON_CONNECTION: connection}

    def get_environ(self) -> dict[str, Any]:
        return {"wsgi.url_scheme": "https", "HTTPS": "on"}


def client_certificate(environ: dict[str, Any]) -> tuple[bytes, str | None]:
    """(DER of the presented certificate or b'', why it cannot be trusted or None), from the connection.

    Fails closed: a certificate without a verdict, or whose verification left an error (recorded by the
    callback), comes with a reason, so the gate refuses it.
    """
    connection = environ.get(ENVIRON_CONNECTION)
    if not isinstance(connection, SSL.Connection):
        return b"", None
    try:
        peer = connection.get_peer_certificate()
        der = peer.to_cryptography().public_bytes(Encoding.DER) if peer is not None else b""
    except (SSL.Error, crypto.Error, ValueError):
        log.exception("the presented certificate could not be read from the connection")
        return b"\x00", "the certificate could not be read from the connection"  # refused as unreadable
    if not der:
        return b"", None
    verdict = connection.get_app_data()
    if not isinstance(verdict, TLSVerdict):
        return der, N_("no verification result")
    if verdict.errors:
        return der, "; ".join(describe(errnum, depth) for errnum, depth in verdict.errors)
    return der, None
