"""The client certificate of the connection, when the portal app runs behind `pkictl serve api-mtls`
(gunicorn speaking TLS itself, like the front office in direct mode): the server verified the chain
against our issuers during the handshake, and gunicorn hands the application the TLS socket."""

from __future__ import annotations

from typing import Any


def peer_certificate(environ: dict[str, Any]) -> bytes | None:
    """DER of the verified client certificate of this connection, or None (plain HTTP, or none sent)."""
    sock = environ.get("gunicorn.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    der = getpeercert(binary_form=True)
    return bytes(der) if der else None
