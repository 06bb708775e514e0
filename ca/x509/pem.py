"""PEM armour (RFC 7468) for DER blobs that cryptography has no object for (our streamed CRLs)."""

from __future__ import annotations

import base64


def pem_encode(der: bytes, label: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN " + label.encode() + b"-----\n" + b"\n".join(lines) + b"\n-----END " + label.encode() + b"-----\n"
