"""OCSP without I/O: parse requests, decode GET paths, match issuers, build responses.

RFC 6960 (OCSP), RFC 5019 / RFC 9919 (the lightweight profile and its GET form, SHA-256 CertIDs allowed),
RFC 9654 (nonce). asn1crypto parses requests because cryptography's parser refuses a request with several
CertIDs. Responses are written TLV by TLV with ca.x509.der: cryptography's OCSPResponseBuilder holds one
SingleResponse and rebuilds the CertID instead of echoing the request's bytes, and asn1crypto's encoder
costs about 0.3 ms per response, several times the ECDSA signature.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote

from asn1crypto import algos, core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp as c_ocsp

from ca.x509 import der
from ca.x509.signer import Signer

# CertID hash algorithms we answer for (RFC 6960 §4.1.1 uses SHA-1; RFC 9919 adds SHA-256;
# SHA-384 and SHA-512 cost nothing more).
HASH_OIDS: dict[str, str] = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_OID_BY_HASH = {name: dotted for dotted, name in HASH_OIDS.items()}
_NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
_BASIC_RESPONSE_OID = "1.3.6.1.5.5.7.48.1.1"
NONCE_MIN, NONCE_MAX = 1, 128  # RFC 9654 §2.1
_MAX_DER_DEPTH = 32
_MAX_GET_CHARS = 4096
_B64_CHARS = re.compile(r"[A-Za-z0-9+/]*")
_B64_NORMALISE = str.maketrans({"-": "+", "_": "/", " ": "+"})

# RFC 5280 §5.3.1 CRLReason codes; 7 is not assigned.
REVOCATION_REASONS = frozenset({0, 1, 2, 3, 4, 5, 6, 8, 9, 10})

_FAILURE_STATUSES = {
    "malformedRequest": c_ocsp.OCSPResponseStatus.MALFORMED_REQUEST,  # RFC 6960 §4.2.1 value 1
    "internalError": c_ocsp.OCSPResponseStatus.INTERNAL_ERROR,  # 2
    "tryLater": c_ocsp.OCSPResponseStatus.TRY_LATER,  # 3
    "unauthorized": c_ocsp.OCSPResponseStatus.UNAUTHORIZED,  # 6
}


class OCSPMalformed(Exception):
    """The request cannot be understood; the caller answers malformedRequest (RFC 6960 §2.3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CertIDKey:
    """One CertID (RFC 6960 §4.1.1), reduced to what a lookup needs."""

    hash_name: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_number: int

    @property
    def issuer_match_key(self) -> tuple[str, bytes, bytes]:
        """The key to look up in `issuer_match_keys(issuer)`."""
        return (self.hash_name, self.issuer_name_hash, self.issuer_key_hash)


@dataclass(frozen=True)
class ParsedRequest:
    """An OCSPRequest: its CertIDs, their exact DER (echoed in the response) and the nonce octets."""

    cert_ids: tuple[CertIDKey, ...]
    nonce: bytes | None
    cert_id_ders: tuple[bytes, ...]


CertStatusName = Literal["good", "revoked", "unknown"]


@dataclass(frozen=True)
class SingleStatus:
    """What to say about one CertID (RFC 6960 §4.2.1 SingleResponse)."""

    cert_id_der: bytes
    status: CertStatusName
    revocation_time: datetime | None = None
    revocation_reason: int | None = None  # RFC 5280 §5.3.1 code; None or 0 (unspecified) is omitted

    def __post_init__(self) -> None:
        if self.status not in ("good", "revoked", "unknown"):
            raise ValueError(f"unknown certificate status {self.status!r}")
        if self.status == "revoked":
            if self.revocation_time is None:
                raise ValueError("a revoked status needs its revocation_time")
            if self.revocation_reason is not None and self.revocation_reason not in REVOCATION_REASONS:
                raise ValueError(f"not an RFC 5280 reason code: {self.revocation_reason!r}")
        elif self.revocation_time is not None or self.revocation_reason is not None:
            raise ValueError(f"a {self.status} status carries no revocation details")




# --- requests -------------------------------------------------------------------------------------


def parse_request(der_bytes: bytes) -> ParsedRequest:
    """Parse an OCSPRequest (RFC 6960 §4.1.1); any defect raises OCSPMalformed.

    A signed request is accepted and its signature ignored: we answer everyone (RFC 6960 §4.1.2 makes the
    signature optional and the responder's policy decides).
    """
    _check_der(der_bytes)
    try:
        tbs = asn1_ocsp.OCSPRequest.load(der_bytes, strict=True)["tbs_request"]
        nonce = _nonce(tbs["request_extensions"])
        _ = tbs.native  # asn1crypto parses lazily: force every field of the TBSRequest now
        requests = list(tbs["request_list"])
        if not requests:
            raise OCSPMalformed("the request list is empty")  # RFC 6960 §4.1.1: SEQUENCE OF Request
        cert_ids = tuple(_cert_id_key(request["req_cert"]) for request in requests)
        cert_id_ders = tuple(request["req_cert"].dump() for request in requests)
    except (ValueError, TypeError, KeyError) as exc:
        raise OCSPMalformed(f"not an OCSP request: {exc}") from None
    return ParsedRequest(cert_ids=cert_ids, nonce=nonce, cert_id_ders=cert_id_ders)


def _check_der(data: bytes) -> None:
    """X.690 §10.1: definite, minimal lengths and nothing after the outer SEQUENCE (RFC 6960 §4.1.1)."""
    if not data or data[0] != 0x30:
        raise OCSPMalformed("an OCSP request is a DER SEQUENCE")
    if _walk_tlv(data, 0, len(data), 0) != len(data):
        raise OCSPMalformed("trailing bytes after the OCSP request")


def _walk_tlv(data: bytes, pos: int, end: int, depth: int) -> int:
    """Check the TLV at `pos` (and its children when constructed); return where it ends."""
    if depth > _MAX_DER_DEPTH:
        raise OCSPMalformed("DER nested too deeply")
    if end - pos < 2:
        raise OCSPMalformed("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if tag & 0x1F == 0x1F:
        raise OCSPMalformed("high tag numbers do not occur in OCSP")
    if first == 0x80:
        raise OCSPMalformed("indefinite length is BER, not DER")
    length = first
    if first > 0x80:
        count = first & 0x7F
        if count > 4 or end - pos < count or data[pos] == 0:
            raise OCSPMalformed("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
        if length < 0x80:
            raise OCSPMalformed("non-minimal DER length")
    if end - pos < length:
        raise OCSPMalformed("truncated DER")
    if tag & 0x20:
        child = pos
        while child < pos + length:
            child = _walk_tlv(data, child, pos + length, depth + 1)
    return pos + length


def _cert_id_key(cert_id: asn1_ocsp.CertId) -> CertIDKey:
    """RFC 6960 §4.1.1 CertID; the hash must be one we compute (RFC 5019: SHA-1; RFC 9919: SHA-256 too)."""
    algorithm = cert_id["hash_algorithm"]
    hash_name = HASH_OIDS.get(algorithm["algorithm"].dotted)
    if hash_name is None:
        raise OCSPMalformed(f"unsupported CertID hash algorithm {algorithm['algorithm'].dotted}")
    if algorithm["parameters"].native is not None:  # RFC 5754 §2: absent or NULL
        raise OCSPMalformed("CertID hash algorithm parameters must be absent or NULL")
    size = hashlib.new(hash_name).digest_size
    name_hash, key_hash = cert_id["issuer_name_hash"].native, cert_id["issuer_key_hash"].native
    if len(name_hash) != size or len(key_hash) != size:
        raise OCSPMalformed(f"CertID hashes are not {hash_name} digests")
    serial_number = cert_id["serial_number"].native
    if serial_number < 0:  # RFC 5280 §4.1.2.2: a positive INTEGER; we never issued a negative one
        raise OCSPMalformed("CertID serial number is negative")
    # The CertID is echoed byte for byte in the response: BER that asn1crypto tolerates (an empty or
    # non-minimal INTEGER, a padded OID, a constructed OCTET STRING, NULL with content) would make the
    # response itself unparsable (X.690 §10; found by tests/fuzz).
    tail = der.octet_string(name_hash) + der.octet_string(key_hash) + der.integer(serial_number)
    oid = der.oid(_OID_BY_HASH[hash_name])
    canonical = (der.sequence(der.sequence(oid, b"\x05\x00"), tail), der.sequence(der.sequence(oid), tail))
    if cert_id.dump() not in canonical:
        raise OCSPMalformed("CertID is not DER-encoded")
    return CertIDKey(hash_name, name_hash, key_hash, serial_number)


def _nonce(extensions: asn1_ocsp.TBSRequestExtensions) -> bytes | None:
    """RFC 9654 §2.1: extnValue holds the DER of one OCTET STRING of 1 to 128 octets.

    openssl (`ocsp -nonce`, 16 octets) and cryptography's `OCSPNonce` both encode it so; the octets
    returned are echoed verbatim, so the response's extnValue equals the request's byte for byte.
    """
    found = [ext for ext in extensions if ext["extn_id"].dotted == _NONCE_OID] if extensions else []
    if not found:
        return None
    if len(found) > 1:
        raise OCSPMalformed("more than one nonce extension")  # RFC 5280 §4.2: at most one instance
    raw = found[0]["extn_value"].contents
    if len(raw) < 2 or raw[0] != 0x04:
        raise OCSPMalformed("the nonce is not an OCTET STRING")
    try:
        value = core.OctetString.load(raw, strict=True)
    except ValueError:
        raise OCSPMalformed("the nonce is not a DER OCTET STRING") from None
    if value.method != 0 or value.contents is None:
        raise OCSPMalformed("the nonce is not a primitive OCTET STRING")
    nonce = bytes(value.contents)
    if not NONCE_MIN <= len(nonce) <= NONCE_MAX:
        raise OCSPMalformed(f"nonce of {len(nonce)} octets, outside 1..128 (RFC 9654 §2.1)")
    return nonce


def decode_get_path(path_tail: str) -> bytes:
    """The DER request from the tail of `GET /pki/ocsp/<base64>` (RFC 5019 §5 and its successor RFC 9919).

    Tolerates what clients and proxies do to the path: percent-escapes (`%2F %2B %3D`), `+` turned into a
    space, a leading `/` (`http://host//MEow...`), missing `=` padding, the URL-safe alphabet, and a `//`
    inside the base64 merged into `/` by a router (Boulder #884): then one `/` is doubled back, provided
    exactly one such repair parses as an OCSP request.
    """
    if len(path_tail) > _MAX_GET_CHARS:
        raise OCSPMalformed("GET path too long")
    try:
        text = unquote(path_tail, errors="strict")
    except UnicodeDecodeError:
        raise OCSPMalformed("GET path is not percent-encoded UTF-8") from None
    body = text.translate(_B64_NORMALISE).lstrip("/").rstrip("=")
    if not body or not _B64_CHARS.fullmatch(body):
        raise OCSPMalformed("GET path is not base64")
    decoded = _b64decode(body)
    if decoded is not None:
        try:
            _check_der(decoded)
            return decoded
        except OCSPMalformed:
            pass
    repaired = set()
    for index in [i for i, char in enumerate(body) if char == "/"][:64]:
        candidate = _b64decode(body[:index] + "/" + body[index:])
        if candidate is not None and _parses(candidate):
            repaired.add(candidate)
    if len(repaired) == 1:
        return repaired.pop()
    raise OCSPMalformed("GET path does not decode to an OCSP request")


def _b64decode(body: str) -> bytes | None:
    if len(body) % 4 == 1:
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:
        return None


def _parses(candidate: bytes) -> bool:
    try:
        parse_request(candidate)
    except OCSPMalformed:
        return False
    return True


# --- issuers --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)  # issuers and responders are few; certificates are immutable and hashable
def _subject_and_key_bits(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """The subject Name DER as encoded in the certificate and the subjectPublicKey BIT STRING value."""
    tbs = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)
    return tbs["subject"].dump(), bytes(tbs["subject_public_key_info"]["public_key"].contents[1:])


def issuer_match_keys(issuer_cert: x509.Certificate) -> frozenset[tuple[str, bytes, bytes]]:
    """(hash_name, issuerNameHash, issuerKeyHash) for every hash we accept (RFC 6960 §4.1.1).

    issuerNameHash hashes the DER of the issuer's subject; issuerKeyHash hashes the value of its
    subjectPublicKey BIT STRING, without tag, length and unused-bits octet. Compare with
    `CertIDKey.issuer_match_key`.
    """
    subject, key_bits = _subject_and_key_bits(issuer_cert)
    return frozenset(
        (name, hashlib.new(name, subject).digest(), hashlib.new(name, key_bits).digest())
        for name in _OID_BY_HASH
    )


def cert_id_der(issuer_cert: x509.Certificate, serial_number: int, hash_name: str = "sha1") -> bytes:
    """A CertID DER for pre-signed responses (RFC 5019: SHA-1; RFC 9919: SHA-256 too).

    Encoded like openssl and cryptography do: hash AlgorithmIdentifier with NULL parameters.
    """
    if hash_name not in _OID_BY_HASH:
        raise ValueError(f"unsupported hash {hash_name!r}")
    subject, key_bits = _subject_and_key_bits(issuer_cert)
    return asn1_ocsp.CertId(
        {
            "hash_algorithm": algos.DigestAlgorithm(
                {"algorithm": _OID_BY_HASH[hash_name], "parameters": core.Null()}
            ),
            "issuer_name_hash": hashlib.new(hash_name, subject).digest(),
            "issuer_key_hash": hashlib.new(hash_name, key_bits).digest(),
            "serial_number": serial_number,
        }
    ).dump()


# --- responses ------------------------------------------------------------------------------------


def failure_response(status: str) -> bytes:
    """An unsigned OCSPResponse without responseBytes (RFC 6960 §2.3, §4.2.1).

    `status` is the RFC name: malformedRequest, internalError, tryLater or unauthorized.
    """
    if status not in _FAILURE_STATUSES:
        raise ValueError(f"not an unsuccessful OCSP status: {status!r}")
    response = c_ocsp.OCSPResponseBuilder.build_unsuccessful(_FAILURE_STATUSES[status])
    return response.public_bytes(Encoding.DER)


def build_response(
    *,
    responder_cert: x509.Certificate,
    responder_signer: Signer,
    statuses: Sequence[SingleStatus],
    this_update: datetime,
    next_update: datetime,
    produced_at: datetime,
    nonce: bytes | None,
) -> bytes:
    """A successful OCSPResponse around a BasicOCSPResponse signed by a delegated responder (RFC 6960 §4.2.1).

    ResponderID is byKey (RFC 5019 §2.2.3); certs carries the responder certificate (RFC 6960 §4.2.2.2);
    each SingleResponse echoes the request's CertID bytes, hence its hash algorithm (Boulder #1494);
    nextUpdate is always present (RFC 5019 §2.2.4; Windows rejects responses without it); the nonce is
    echoed as one OCTET STRING in responseExtensions (RFC 9654 §2.1).
    """
    if not statuses:
        raise ValueError("a response needs at least one status")
    if next_update <= this_update:
        raise ValueError("next_update must come after this_update")
    if nonce is not None and not NONCE_MIN <= len(nonce) <= NONCE_MAX:
        raise ValueError("nonce outside 1..128 octets")
    key_type = _checked_key_type(responder_signer, responder_cert)
    _, responder_key_bits = _subject_and_key_bits(responder_cert)
    this, nxt = _generalized(this_update), der.tlv(0xA0, _generalized(next_update))  # nextUpdate [0] EXPLICIT
    fields = [
        der.tlv(0xA2, der.octet_string(hashlib.sha1(responder_key_bits).digest())),  # byKey [2]: SHA-1 of key
        _generalized(produced_at),
        der.sequence(*(der.sequence(_cert_id(s), _cert_status(s), this, nxt) for s in statuses)),
    ]
    if nonce is not None:  # responseExtensions [1] EXPLICIT; extnValue = DER of the nonce OCTET STRING
        nonce_extension = der.sequence(der.oid(_NONCE_OID), der.octet_string(der.octet_string(nonce)))
        fields.append(der.tlv(0xA1, der.sequence(nonce_extension)))
    tbs = der.sequence(*fields)  # version v1 is the DEFAULT, so absent (X.690 §11.5)
    signature = responder_signer.sign(tbs)
    basic = der.sequence(
        tbs,
        der.signature_algorithm_der(key_type),
        der.bit_string(signature),
        der.tlv(0xA0, der.sequence(responder_cert.public_bytes(Encoding.DER))),  # certs [0] EXPLICIT
    )
    response_bytes = der.sequence(der.oid(_BASIC_RESPONSE_OID), der.octet_string(basic))
    return der.sequence(der.enumerated(0), der.tlv(0xA0, response_bytes))  # successful, [0] EXPLICIT


def _cert_id(status: SingleStatus) -> bytes:
    """The request's own CertID DER, checked to be one we would have accepted (RFC 6960 §4.2.1)."""
    try:
        _check_der(status.cert_id_der)
        _cert_id_key(asn1_ocsp.CertId.load(status.cert_id_der, strict=True))
    except (ValueError, TypeError, KeyError, OCSPMalformed) as exc:
        raise ValueError(f"cert_id_der is not a CertID we answer for: {exc}") from None
    return status.cert_id_der


def _cert_status(status: SingleStatus) -> bytes:
    """CertStatus CHOICE: good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] (§4.2.1)."""
    if status.status == "good":
        return b"\x80\x00"
    if status.status == "unknown":
        return b"\x82\x00"
    assert status.revocation_time is not None  # checked by SingleStatus
    revoked = _generalized(status.revocation_time)
    if status.revocation_reason:  # RFC 5280 §5.3.1: omit rather than send unspecified (0)
        revoked += der.tlv(0xA0, der.enumerated(status.revocation_reason))  # revocationReason [0] EXPLICIT
    return der.tlv(0xA1, revoked)


def _generalized(value: datetime) -> bytes:
    """GeneralizedTime in UTC, no fractional seconds (RFC 6960 §4.2.2.1; RFC 5280 §4.1.2.5.2)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: all our times are UTC-aware")
    return der.tlv(0x18, value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode())


def _checked_key_type(signer: Signer, responder_cert: x509.Certificate) -> str:
    """The signer's key type, after checking that it holds the responder certificate's key (RFC 6960 §4.2.2.2)."""
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if signer.public_key().public_bytes(*spki) != responder_cert.public_key().public_bytes(*spki):
        raise ValueError("the responder key does not match the responder certificate")
    return signer.key_type
