"""A minimal DER writer: just enough to wrap a signature around to-be-signed bytes and to stream CRLs.

cryptography builds TBS structures for us, but it needs the private key in-process to sign them. Signing
the TBS bytes through the Signer port and assembling the outer SEQUENCE here lets a PKCS#11 key sign
certificates and CRLs exactly like a key file (X.509 Certificate / CertificateList, RFC 5280 §4.1, §5.1).
"""

from __future__ import annotations

from datetime import UTC, datetime

# AlgorithmIdentifier DER for the signature algorithms we use (RFC 5758 §3.2: ECDSA has no parameters;
# RFC 4055 §5: sha*WithRSAEncryption has NULL parameters).
_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
_ECDSA_SHA384 = bytes.fromhex("300a06082a8648ce3d040303")
_RSA_SHA256 = bytes.fromhex("300d06092a864886f70d01010b0500")


def signature_algorithm_der(key_type: str) -> bytes:
    """The AlgorithmIdentifier that a key of `key_type` signs with (see ca.x509.signer.hash_for)."""
    if key_type == "ec-p256":
        return _ECDSA_SHA256
    if key_type == "ec-p384":
        return _ECDSA_SHA384
    if key_type.startswith("rsa-"):
        return _RSA_SHA256
    raise ValueError(f"unknown key type {key_type!r}")


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + length(len(value)) + value


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def integer(value: int) -> bytes:
    """DER INTEGER; positive values get a leading zero octet when their top bit is set."""
    if value < 0:
        raise ValueError("negative integers are not used in our structures")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(0x02, body)


def octet_string(value: bytes) -> bytes:
    return tlv(0x04, value)


def bit_string(value: bytes) -> bytes:
    return tlv(0x03, b"\x00" + value)


def enumerated(value: int) -> bytes:
    return tlv(0x0A, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray((40 * parts[0] + parts[1],))
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def time(value: datetime) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always Z, no fractions."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: all our times are UTC-aware")
    value = value.astimezone(UTC)
    if value.year < 2050:
        return tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode())


def starts_sequence_with(data: bytes, element: bytes) -> bool:
    """True when `data` is exactly one definite-length SEQUENCE (X.690 §8.1.3, §8.9) whose contents begin
    with the bytes `element`: a signed structure assembled around exactly those to-be-signed bytes."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        start, size = 2, first
    else:
        start = 2 + (first & 0x7F)
        size = int.from_bytes(data[2:start], "big")
    return start + size == len(data) and data[start:start + len(element)] == element


def assemble_signed(tbs: bytes, algorithm_der: bytes, signature: bytes) -> bytes:
    """SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1 and §5.1)."""
    return sequence(tbs, algorithm_der, bit_string(signature))
