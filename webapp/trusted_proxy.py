"""One rule for "a client certificate forwarded by a trusted proxy", used by the portal's API
(`portal.client_cert_header`) and by the front-office gate in proxy mode (`frontoffice.proxy_header`).

A TLS-terminating proxy (nginx: `$ssl_client_escaped_cert`, `$ssl_client_verify`) may tell us which
certificate the client presented. Certificates are public, so the header is worth something only when:
- the request comes from one of the configured proxy addresses (REMOTE_ADDR as the WSGI server sees it),
  never from anyone else, whatever the header says;
- the proxy's verify header says `SUCCESS` (it checked the chain and the proof of possession).
A header set with no proxy configured is refused when the application is built, not discovered later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ca.errors import BadRequestError

VERIFIED = "SUCCESS"


def header_key(name: str) -> str:
    """The WSGI environ key of a request header (`X-SSL-Client-Cert` → `HTTP_X_SSL_CLIENT_CERT`)."""
    return "HTTP_" + name.strip().upper().replace("-", "_")


def proxy_addresses(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def peer_address(environ: Mapping[str, Any]) -> str:
    """The address of the TCP peer itself: the one werkzeug's ProxyFix saw before reading X-Forwarded-For."""
    original = environ.get("werkzeug.proxy_fix.orig")
    if original is None:  # no ProxyFix in front (the gate; the portal without one): the common case, one lookup
        return str(environ.get("REMOTE_ADDR") or "")
    return str(original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR") or "")


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What the proxy headers of one request amount to."""

    certificate: str  # the header's value (URL-encoded PEM), "" when absent or not to be read
    refusal: str | None  # why the header cannot be trusted, None when it can (or when there is none)


@dataclass(frozen=True)
class TrustedProxy:
    addresses: frozenset[str]
    cert_header: str
    verify_header: str
    # The environ keys of the two headers, derived once here: `forwarded` runs on every request of the gate.
    cert_key: str = field(init=False, repr=False, compare=False)
    verify_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cert_key", header_key(self.cert_header) if self.cert_header else "")
        object.__setattr__(self, "verify_key", header_key(self.verify_header) if self.verify_header else "")

    @classmethod
    def configure(cls, *, addresses: Iterable[str] | str, cert_header: str, verify_header: str,
                  where: str) -> TrustedProxy:
        """Refuse a certificate header without a proxy list (anyone could send it) or without a verify header."""
        found = proxy_addresses(addresses) if isinstance(addresses, str) else frozenset(addresses)
        if cert_header.strip() and not found:
            raise BadRequestError(f"{where}: a client certificate header is set but no trusted proxy address; "
                                  "list the TLS-terminating proxies (or clear the header)")
        if cert_header.strip() and not verify_header.strip():
            raise BadRequestError(f"{where}: a client certificate header needs the proxy's verify header too")
        return cls(addresses=found, cert_header=cert_header.strip(), verify_header=verify_header.strip())

    @property
    def enabled(self) -> bool:
        return bool(self.cert_header)

    def forwarded(self, environ: Mapping[str, Any]) -> Forwarded:
        if not self.cert_key:
            return _NOTHING
        value = environ.get(self.cert_key) or ""
        remote = peer_address(environ)
        if remote not in self.addresses:
            return Forwarded("", f"certificate header ignored: {remote} is not a trusted proxy") if value else _NOTHING
        if not value:
            return _NOTHING
        verify = environ.get(self.verify_key) or ""
        if verify == VERIFIED:
            return Forwarded(value, None)
        if not verify:
            return Forwarded(value, "the proxy did not say whether it verified the certificate")
        return Forwarded(value, verify.removeprefix("FAILED:"))


_NOTHING = Forwarded("", None)
