"""PEM armour (RFC 7468) for DER blobs that cryptography has no object for (our streamed CRLs)."""

from __future__ import annotations

import base64


def pem_encode(der: bytes, label: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    armour = label.encode()
    return b"-----BEGIN " + armour + b"-----\n" + b"\n".join(lines) + b"\n-----END " + armour + b"-----\n"
