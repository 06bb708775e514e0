"""Issuance fast path: the TBSCertificate of a leaf encoded from a per-shape DER template (issue 14 §1).

All leaves of one shape — same issuer certificate, profile, repository URLs, subject key family (EC or RSA:
the RSA profiles add keyEncipherment) and presence of a subjectAltName — share every byte of their
TBSCertificate (RFC 5280 §4.1) except the serial number, the validity, the subject, the
SubjectPublicKeyInfo, the subjectKeyIdentifier and the subjectAltName. A `Shape` keeps the fixed bytes,
cut from a certificate that `cryptography`'s builder made for that shape (`leaf_builder`, the one
definition of what a leaf contains), and `encode_tbs` writes the varying fields with a small exact DER
encoder. The differential test (tests/x509/test_tbs_template.py) checks byte for byte against the builder.

Anything this encoder cannot write exactly as the builder would returns None, and the caller uses the
builder (and pkilint on the whole certificate) instead:
- a subject with a multi-valued RDN, an attribute type outside `ATTRIBUTE_BOUNDS`, a string type other
  than UTF8String/PrintableString/IA5String, or a value the exact validators refuse (empty, spaces at
  either end, control characters, longer than the RFC 5280 Appendix A upper bound, a C that is not two
  PrintableString letters);
- an empty subject (the SAN then becomes critical, RFC 5280 §4.2.1.6);
- an e-mail or DNS name that is not plain ASCII of a valid syntax (the builder accepts, pkilint judges).
A shape is linted once with pkilint when it is made (`Shape.reference` is the linted certificate).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ca.x509 import der
from ca.x509.templates import Profile, RepositoryURLs, leaf_builder

_SKI_OID = "2.5.29.14"
_SAN_OID = "2.5.29.17"
_SKI_MARK = b"ski"
_SAN_MARK = b"san"

# RFC 5280 Appendix A upper bounds (ub-*) of the attribute types a leaf subject may carry.
ATTRIBUTE_BOUNDS: dict[x509.ObjectIdentifier, int] = {
    NameOID.COUNTRY_NAME: 2,
    NameOID.ORGANIZATION_NAME: 64,
    NameOID.ORGANIZATIONAL_UNIT_NAME: 64,
    NameOID.COMMON_NAME: 64,
    NameOID.LOCALITY_NAME: 128,
    NameOID.STATE_OR_PROVINCE_NAME: 128,
    NameOID.ORGANIZATION_IDENTIFIER: 64,  # no ub in X.520; pkilint's CA/B limit
    NameOID.SERIAL_NUMBER: 64,
}
_STRING_TAGS = {_ASN1Type.UTF8String: 0x0C, _ASN1Type.PrintableString: 0x13, _ASN1Type.IA5String: 0x16}
_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*\Z")  # X.680 §41.4 PrintableString
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\Z")
_OID_DER: dict[x509.ObjectIdentifier, bytes] = {}
K = TypeVar("K")
V = TypeVar("V")


def key_family(public_key: CertificateIssuerPublicKeyTypes) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec"
    raise TypeError(f"unsupported subject key {type(public_key).__name__}")


# --- a minimal DER reader, for cutting the reference TBS into its elements ------------------------------
def _element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of element) of the DER element at `offset` (X.690 §8.1)."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    size = int.from_bytes(data[offset + 2:offset + 2 + count], "big")
    start = offset + 2 + count
    return tag, start, start + size


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each element between start and end."""
    out = []
    while start < end:
        tag, content, stop = _element(data, start)
        out.append((tag, start, content, stop))
        start = stop
    return out


def _oid_text(body: bytes) -> str:
    parts = [body[0] // 40, body[0] % 40] if body[0] < 80 else [2, body[0] - 80]
    value = 0
    for byte in body[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


# --- exact encoders of the varying fields ----------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def encode_time(value: datetime) -> bytes:
    """RFC 5280 §4.1.2.5: UTCTime for 1950-2049, GeneralizedTime otherwise; seconds, Z, no fractions.
    Memoised: the certificates of a batch share their validity."""
    value = value.astimezone(UTC)
    if 1950 <= value.year < 2050:
        return der.tlv(0x17, f"{value.year % 100:02d}{value:%m%d%H%M%S}Z".encode())
    return der.tlv(0x18, f"{value.year:04d}{value:%m%d%H%M%S}Z".encode())


def _oid_der(oid: x509.ObjectIdentifier) -> bytes:
    encoded = _OID_DER.get(oid)
    if encoded is None:
        encoded = _OID_DER[oid] = der.oid(oid.dotted_string)
    return encoded


def _checked_value(oid: x509.ObjectIdentifier, value: str, string_type: _ASN1Type) -> bytes | None:
    """The value's octets in its string type, or None when an exact validator refuses it."""
    bound = ATTRIBUTE_BOUNDS.get(oid)
    if bound is None or not value or value != value.strip() or len(value) > bound or _CONTROL.search(value):
        return None
    if oid == NameOID.COUNTRY_NAME and (string_type != _ASN1Type.PrintableString or not re.fullmatch(
            "[A-Z]{2}", value)):
        return None
    if string_type == _ASN1Type.UTF8String:
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return None
    if string_type == _ASN1Type.PrintableString:
        return value.encode("ascii") if _PRINTABLE.match(value) else None
    if string_type == _ASN1Type.IA5String:
        return value.encode("ascii") if value.isascii() else None
    return None


class IdentityMemo(Generic[K, V]):
    """`fn(obj)` kept per object (not per equal object: x509.Name equality ignores the string types, which the
    encoding depends on), for immutable objects a caller hands over again — the subject of a user's
    certificates is made once (ca.issuance). The memo holds each object, so its id cannot be reused while
    it is kept; bounded by clearing."""

    def __init__(self, fn: Callable[[K], V], size: int = 4096) -> None:
        self._fn, self._size = fn, size
        self._kept: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K) -> V:
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        value = self._fn(obj)
        if len(self._kept) >= self._size:
            self._kept.clear()
        self._kept[id(obj)] = (obj, value)
        return value


def encode_name(name: x509.Name) -> bytes | None:
    """Name (RFC 5280 §4.1.2.4) as SEQUENCE OF single-attribute RDNs, or None when it is not of that form
    (memoised per Name object: `IdentityMemo`)."""
    return _encode_name_memo(name)


def _encode_name(name: x509.Name) -> bytes | None:
    rdns = []
    for rdn in name.rdns:
        if len(rdn) != 1:
            return None
        (attribute,) = rdn
        string_type = attribute._type
        tag = _STRING_TAGS.get(string_type)
        value = attribute.value
        if tag is None or not isinstance(value, str):
            return None
        octets = _checked_value(attribute.oid, value, string_type)
        if octets is None:
            return None
        rdns.append(der.tlv(0x31, der.sequence(_oid_der(attribute.oid), der.tlv(tag, octets))))
    return der.sequence(*rdns)


_encode_name_memo: IdentityMemo[x509.Name, bytes | None] = IdentityMemo(_encode_name)


def _dns_ok(name: str) -> bool:
    if not name.isascii() or len(name) > 253:
        return False
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    return len(labels) >= 1 and all(_LABEL.match(label) for label in labels)


def _email_ok(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at) and len(address) <= 255 and bool(_LOCAL_PART.match(local)) and _dns_ok(domain)


def encode_general_names(emails: Sequence[str], dns_names: Sequence[str]) -> bytes | None:
    """GeneralNames (RFC 5280 §4.2.1.6) in the builder's order: rfc822Name [1] for each e-mail, then
    iPAddress [7] or dNSName [2] for each name (an address when it parses as one); None when a value fails
    its exact validator."""
    names = []
    for email in emails:
        if not _email_ok(email):
            return None
        names.append(der.tlv(0x81, email.encode("ascii")))
    for dns in dns_names:
        try:
            names.append(der.tlv(0x87, ipaddress.ip_address(dns).packed))
            continue
        except ValueError:
            pass
        if not _dns_ok(dns):
            return None
        names.append(der.tlv(0x82, dns.encode("ascii")))
    return der.sequence(*names)


def subject_public_key_bits(spki_der: bytes) -> bytes:
    """The subjectPublicKey BIT STRING's value without its unused-bits octet (RFC 5280 §4.1.2.7)."""
    _tag, content, end = _element(spki_der, 0)
    (_alg, bits) = _children(spki_der, content, end)
    return spki_der[bits[2] + 1:bits[3]]


_SKI_OID_DER = der.oid(_SKI_OID)
# Extension ::= SEQUENCE { extnID, extnValue OCTET STRING (KeyIdentifier OCTET STRING (20 octets)) }: every
# byte but the SHA-1 digest is fixed.
_SKI_DIGEST = 20  # octets of a SHA-1 keyIdentifier
_SKI_PREFIX = der.sequence(_SKI_OID_DER, der.octet_string(der.octet_string(bytes(_SKI_DIGEST))))[:-_SKI_DIGEST]


def ski_digest(spki_der: bytes) -> bytes:
    """The keyIdentifier of method (1) of RFC 5280 §4.2.1.2: SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(subject_public_key_bits(spki_der), usedforsecurity=False).digest()

_SAN_OID_DER = der.oid(_SAN_OID)


# --- shapes ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShapeKey:
    issuer_der: bytes
    signer_key_type: str
    profile: Profile
    urls: RepositoryURLs
    family: str  # "ec" or "rsa": the subject key's family
    with_san: bool


@dataclass(frozen=True)
class Shape:
    """The fixed bytes of one shape, cut from `reference` (made by the builder)."""

    key: ShapeKey
    version: bytes  # [0] EXPLICIT v3
    signature_and_issuer: bytes  # AlgorithmIdentifier + issuer Name
    extensions: tuple[bytes, ...]  # DER of each fixed Extension, or _SKI_MARK / _SAN_MARK
    reference: x509.Certificate  # signed by a throwaway key: what pkilint checked


_REFERENCE_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shape.reference.invalid")])


def reference_key(family: str) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    from ca.x509.signing import throwaway_key

    key = throwaway_key("rsa-2048" if family == "rsa" else "ec-p256").public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return key


def make_shape(key: ShapeKey) -> Shape:
    """Build a reference certificate of the shape with the builder and cut out the fixed bytes."""
    from ca.x509.signing import preview

    issuer = x509.load_der_x509_certificate(key.issuer_der)
    emails: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    if key.with_san:
        if key.profile.name == "tls-server":
            dns = ("shape.reference.invalid",)
        else:
            emails = ("shape@reference.invalid",)
    now = datetime.now(UTC).replace(microsecond=0)
    builder = leaf_builder(key.profile, _REFERENCE_SUBJECT, reference_key(key.family), issuer, 1 << 64, now, now,
                           key.urls, emails=emails, dns_names=dns)
    reference = preview(builder, key.signer_key_type)
    tbs = reference.tbs_certificate_bytes
    _tag, content, end = _element(tbs, 0)
    elements = _children(tbs, content, end)
    version, _serial, signature, issuer_name, _validity, _subject, _spki, extensions = elements
    if version[0] != 0xA0 or extensions[0] != 0xA3:
        raise ValueError("the builder's leaf TBS is not a v3 certificate with extensions")
    _t, seq_content, seq_end = _element(tbs, extensions[2])
    parts = []
    for _tag, start, ext_content, stop in _children(tbs, seq_content, seq_end):
        (_oid_tag, oid_start, oid_content, oid_end) = _children(tbs, ext_content, stop)[0]
        oid = _oid_text(tbs[oid_content:oid_end])
        if oid == _SKI_OID:
            parts.append(_SKI_MARK)
        elif oid == _SAN_OID:
            parts.append(_SAN_MARK)
        else:
            parts.append(tbs[start:stop])
    if parts.count(_SKI_MARK) != 1 or parts.count(_SAN_MARK) != int(key.with_san):
        raise ValueError("the builder's leaf TBS does not have the expected SKI and SAN")
    return Shape(key=key, version=tbs[version[1]:version[3]],
                 signature_and_issuer=tbs[signature[1]:issuer_name[3]], extensions=tuple(parts),
                 reference=reference)


@dataclass(frozen=True, slots=True)
class LeafFields:
    """The TBSCertificate bytes of one shape's leaf that depend neither on its key nor on its serial number:
    every leaf of a batch with the same shape, subject, validity and subjectAltName shares them, and
    `encode_with_key` adds the rest (serial number, SubjectPublicKeyInfo, subjectKeyIdentifier digest). The
    subjectKeyIdentifier is always 20 octets, so the extensions' headers are fixed too."""

    version: bytes  # [0] EXPLICIT v3
    middle: bytes  # signature AlgorithmIdentifier, issuer, validity, subject (RFC 5280 §4.1.2.3-§4.1.2.6)
    extensions_head: bytes  # [3] and SEQUENCE headers, the Extensions before the SKI, the SKI up to its digest
    extensions_tail: bytes  # the Extensions after the SKI


def leaf_fields(shape: Shape, *, not_before: datetime, not_after: datetime, subject: x509.Name,
                emails: Sequence[str] = (), dns_names: Sequence[str] = ()) -> LeafFields | None:
    """The key-independent bytes of these values, or None when the template cannot encode them exactly."""
    if bool(emails or dns_names) != shape.key.with_san:
        raise ValueError("these values do not belong to this shape")
    if len(subject) == 0 or not_before.astimezone(UTC).year < 1950:
        return None
    subject_der = encode_name(subject)
    if subject_der is None:
        return None
    parts: list[list[bytes]] = [[], []]
    side = 0
    for part in shape.extensions:
        if part == _SKI_MARK:
            side = 1
        elif part == _SAN_MARK:
            general_names = encode_general_names(emails, dns_names)
            if general_names is None:
                return None
            parts[side].append(der.sequence(_SAN_OID_DER, der.octet_string(general_names)))
        else:
            parts[side].append(part)
    before, after = b"".join(parts[0]), b"".join(parts[1])
    size = len(before) + len(_SKI_PREFIX) + _SKI_DIGEST + len(after)  # the SEQUENCE OF Extension's content
    sequence_head = b"\x30" + der.length(size)
    head = b"\xa3" + der.length(len(sequence_head) + size) + sequence_head + before + _SKI_PREFIX
    validity = der.sequence(encode_time(not_before), encode_time(not_after))
    return LeafFields(shape.version, shape.signature_and_issuer + validity + subject_der, head, after)


def encode_with_key(fields: LeafFields, serial_number: int, spki: bytes, ski: bytes | None = None) -> bytes | None:
    """The whole TBSCertificate: `fields` with this serial number (RFC 5280 §4.1.2.2: positive, at most 20
    octets — else None, for the builder), the key's SubjectPublicKeyInfo DER and its subjectKeyIdentifier
    (`ski`: `ski_digest(spki)`, when the caller has it already — ca.signing_pool.CheckedKey)."""
    if not 0 < serial_number < 1 << 159:
        return None
    if ski is None:
        ski = ski_digest(spki)
    elif len(ski) != _SKI_DIGEST:
        raise ValueError("the subjectKeyIdentifier of this template is a 20-octet SHA-1 digest")
    body = b"".join((fields.version, der.integer(serial_number), fields.middle, spki, fields.extensions_head,
                     ski, fields.extensions_tail))
    return b"\x30" + der.length(len(body)) + body


def encode_tbs(shape: Shape, *, serial_number: int, not_before: datetime, not_after: datetime,
               subject: x509.Name, public_key: CertificateIssuerPublicKeyTypes, emails: Sequence[str] = (),
               dns_names: Sequence[str] = (), spki: bytes | None = None) -> bytes | None:
    """The TBSCertificate bytes the builder would make for these values, or None (use the builder).

    The SubjectPublicKeyInfo is the key's own DER (RFC 5280 §4.1.2.7), as the builder writes it (`spki`:
    that DER, when the caller already has it — ca.x509.csr.CheckedCSR).
    """
    if key_family(public_key) != shape.key.family or bool(emails or dns_names) != shape.key.with_san:
        raise ValueError("these values do not belong to this shape")
    fields = leaf_fields(shape, not_before=not_before, not_after=not_after, subject=subject, emails=emails,
                         dns_names=dns_names)
    if fields is None:
        return None
    if spki is None:
        spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return encode_with_key(fields, serial_number, spki)
