"""Challenge validation: http-01 (RFC 8555 §8.3) fetches the key authorization from the identifier's web
server; tls-alpn-01 (RFC 8737 §3) reads it, hashed, from the certificate the identifier's TLS server shows
for the `acme-tls/1` protocol.

`acme.resolve` and `acme.http01_port` point validation at fixed addresses for tests and closed networks
(like Pebble's resolver option); they are not for production. Redirects are not followed: a validation
answers from the named host itself or fails.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509

from ca.settings import AcmeSettings

MAX_BODY = 8192
ACME_TLS_ALPN = "acme-tls/1"
# RFC 8737 §3: id-pe-acmeIdentifier
ACME_IDENTIFIER_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


@dataclass(frozen=True)
class Outcome:
    valid: bool
    error_type: str = ""
    detail: str = ""


def resolve(name: str, settings: AcmeSettings) -> str:
    fixed = settings.resolved_addresses.get(name)
    if fixed:
        return fixed
    return str(socket.getaddrinfo(name, settings.http01_port, type=socket.SOCK_STREAM)[0][4][0])


def validate_http01(name: str, token: str, key_authorization: str, settings: AcmeSettings) -> Outcome:
    """§8.3: GET http://<name>/.well-known/acme-challenge/<token>; the body must be the key authorization
    (trailing whitespace allowed)."""
    try:
        address = resolve(name, settings)
    except OSError as exc:
        return Outcome(False, "dns", f"cannot resolve {name}: {exc}")
    connection = http.client.HTTPConnection(address, settings.http01_port, timeout=settings.validation_timeout_seconds)
    try:
        connection.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": name,
                                                                                   "User-Agent": "portail-acme"})
        response = connection.getresponse()
        body = response.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(False, "connection", f"cannot fetch http://{name}:{settings.http01_port}/: {exc}")
    finally:
        connection.close()
    if response.status != 200:
        return Outcome(False, "unauthorized", f"http://{name}/.well-known/acme-challenge/{token} answered "
                       f"{response.status}")
    if len(body) > MAX_BODY or body.decode("ascii", "replace").rstrip() != key_authorization:
        return Outcome(False, "incorrectResponse", "the challenge response is not the key authorization")
    return Outcome(True)


def _alpn_context() -> ssl.SSLContext:
    """No chain check: the challenge certificate is self-signed by design (RFC 8737 §3); ALPN is what
    proves the server answers for ACME."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols([ACME_TLS_ALPN])
    return context


def validate_tls_alpn01(name: str, key_authorization: str, settings: AcmeSettings) -> Outcome:
    """RFC 8737 §3: SNI = the name, ALPN acme-tls/1 negotiated, a certificate whose only SAN is the name and
    whose critical acmeIdentifier extension holds the SHA-256 of the key authorization."""
    try:
        address = resolve(name, settings)
    except OSError as exc:
        return Outcome(False, "dns", f"cannot resolve {name}: {exc}")
    port, timeout = settings.tlsalpn01_port, settings.validation_timeout_seconds
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                _alpn_context().wrap_socket(raw, server_hostname=name) as tls:
            protocol, der = tls.selected_alpn_protocol(), tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        return Outcome(False, "connection", f"cannot complete a TLS handshake with {name}:{port}: {exc}")
    if protocol != ACME_TLS_ALPN or der is None:
        return Outcome(False, "unauthorized", f"{name}:{port} did not negotiate the {ACME_TLS_ALPN} protocol")
    return _check_alpn_certificate(name, der, key_authorization)


def _check_alpn_certificate(name: str, der: bytes, key_authorization: str) -> Outcome:
    try:
        certificate = x509.load_der_x509_certificate(der)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except (ValueError, x509.ExtensionNotFound):
        return Outcome(False, "unauthorized", "the challenge certificate lacks its SAN or acmeIdentifier extension")
    if list(names) != [x509.DNSName(name)]:
        return Outcome(False, "unauthorized", f"the challenge certificate must name exactly {name}")
    expected = b"\x04\x20" + hashlib.sha256(key_authorization.encode("ascii")).digest()  # OCTET STRING (32)
    value = extension.value
    if not extension.critical or not isinstance(value, x509.UnrecognizedExtension) or value.value != expected:
        return Outcome(False, "incorrectResponse", "the acmeIdentifier extension does not match the key authorization")
    return Outcome(True)
