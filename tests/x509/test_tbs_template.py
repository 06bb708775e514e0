"""Differential test of the issuance fast path (issue 14 §1): the template's TBSCertificate against the bytes
`cryptography`'s builder makes from the same values, byte for byte, over TBS_DIFF_CASES (2,000 unless told)
seeded random cases per profile and subject key type — odd names included — each against one of three
issuers (P-256, P-384, RSA-2048). Inputs the template documents it cannot encode must come back None (the
caller then uses the builder): a share of the cases is made of exactly those."""

from __future__ import annotations

import ipaddress
import os
import random
import tomllib
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ca.settings import PROFILES_FILE
from ca.x509.signer import KEY_TYPES, hash_for
from ca.x509.signing import preview, throwaway_key
from ca.x509.tbs_template import Shape, ShapeKey, encode_tbs, key_family, make_shape
from ca.x509.templates import leaf_builder, load_profile, repository_urls, root_builder

CASES = int(os.environ.get("TBS_DIFF_CASES", "2000"))
PROFILES = tomllib.loads(PROFILES_FILE.read_text())
ISSUER_KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048")
KEYS_PER_TYPE = {"ec-p256": 12, "ec-p384": 8, "rsa-2048": 6, "rsa-3072": 3, "rsa-4096": 2}
URLS = repository_urls("https://pki.example.test/repo", "issuer-1")

# Odd characters: RFC 4514 specials, quotes, spaces inside, accents (composed and combining), Greek, CJK,
# RTL letters, astral emoji, a non-BMP CJK ideograph, NBSP.
ODD = (list("abcXYZ019 ,+\"\\<>;=#'-./:?()") + ["é", "e\u0301", "ß", "Ω", "李", "ض", "😀", "\U00020000", "\u00a0",
       "ﬁ", "İ", "ı"])
PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
BOUNDS = {NameOID.COMMON_NAME: 64, NameOID.ORGANIZATION_NAME: 64, NameOID.ORGANIZATIONAL_UNIT_NAME: 64,
          NameOID.LOCALITY_NAME: 128, NameOID.STATE_OR_PROVINCE_NAME: 128, NameOID.ORGANIZATION_IDENTIFIER: 64}


@cache
def issuer(key_type: str) -> x509.Certificate:
    key = throwaway_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Réseau de Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Issuing CA {key_type}")])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return root_builder(name, key.public_key(), 77, now, now + timedelta(days=3650)).sign(key, hash_for(key_type))


@cache
def subject_keys(key_type: str) -> list[ec.EllipticCurvePublicKey | rsa.RSAPublicKey]:
    keys: list[ec.EllipticCurvePublicKey | rsa.RSAPublicKey] = []
    for _ in range(KEYS_PER_TYPE[key_type]):
        if key_type.startswith("ec-"):
            curve = ec.SECP256R1() if key_type == "ec-p256" else ec.SECP384R1()
            keys.append(ec.generate_private_key(curve).public_key())
        else:
            keys.append(rsa.generate_private_key(65537, int(key_type[4:])).public_key())
    return keys


@cache
def shape(issuer_key_type: str, profile_name: str, family: str, with_san: bool) -> Shape:
    return make_shape(ShapeKey(issuer(issuer_key_type).public_bytes(Encoding.DER), issuer_key_type,
                               load_profile(profile_name, PROFILES), URLS, family, with_san))


def _text(rng: random.Random, low: int, high: int) -> str:
    length = rng.randint(low, high)
    text = "".join(rng.choice(ODD) for _ in range(length))
    text = text.strip()
    return text or "x"


def _valid_value(rng: random.Random, bound: int) -> str:
    choice = rng.random()
    if choice < 0.1:
        return "A" * bound  # exactly the upper bound
    if choice < 0.2:
        return "".join(rng.choice(PRINTABLE) for _ in range(rng.randint(1, bound))).strip() or "P"
    value = _text(rng, 1, bound)[:bound]
    while len(value.encode()) > bound:  # cryptography bounds CN in UTF-8 octets
        value = value[:-1]
    return value.strip() or "y"


def random_subject(rng: random.Random) -> tuple[x509.Name, bool]:
    """A subject and whether the template must refuse it (fallback)."""
    attributes: list[x509.NameAttribute] = []
    if rng.random() < 0.7:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, rng.choice(["FR", "DE", "BE", "ES"]),
                                             _type=_ASN1Type.PrintableString))
    for oid in rng.sample(list(BOUNDS), rng.randint(0, 4)):
        string_type = _ASN1Type.UTF8String
        value = _valid_value(rng, BOUNDS[oid])
        if all(c in PRINTABLE for c in value) and rng.random() < 0.3:
            string_type = _ASN1Type.PrintableString
        attributes.append(x509.NameAttribute(oid, value, _type=string_type))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, _valid_value(rng, 64), _type=_ASN1Type.UTF8String))
    rdns = [x509.RelativeDistinguishedName([a]) for a in attributes]
    refuse = rng.random() < 0.12
    if refuse:
        odd = rng.randrange(6)
        if odd == 0:  # multi-valued RDN
            rdns.append(x509.RelativeDistinguishedName([
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "A"),
                x509.NameAttribute(NameOID.COMMON_NAME, "B")]))
        elif odd == 1:  # longer than ub-common-name: cryptography refuses it at NameAttribute for CN, so use O
            rdns.append(x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "O" * 65)]))
        elif odd == 2:  # a control character
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a\x07b")]))
        elif odd == 3:  # an attribute type the template does not know
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.PSEUDONYM, "pseudo")]))
        elif odd == 4:  # BMPString
            rdns.append(x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, "bmp", _type=_ASN1Type.BMPString)]))
        else:  # a trailing space
            rdns.append(x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "space ")]))
    return x509.Name(rdns), refuse


def _label(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    inner = "".join(rng.choice(alphabet + "-") for _ in range(rng.randint(0, 61)))
    return rng.choice(alphabet) + inner.strip("-") + (rng.choice(alphabet) if inner else "")


def random_sans(rng: random.Random, profile_name: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    if profile_name == "ocsp-responder":
        return (), (), False
    refuse = rng.random() < 0.05
    if profile_name == "browser":
        emails = tuple(f"{_label(rng)[:20].rstrip('-')}.{rng.randint(0, 9)}@{_label(rng)}.example"
                       for _ in range(rng.randint(1, 3)))
        if refuse:
            emails += ("no-at-sign.example",)
        return emails, (), refuse
    names: list[str] = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.15:
            names.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        elif kind < 0.25:
            names.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        elif kind < 0.35:
            names.append("*." + ".".join(_label(rng) for _ in range(2)))
        else:
            names.append(".".join(_label(rng)[:30].rstrip("-") for _ in range(rng.randint(1, 4))))
    if refuse:
        names.append("under_score.example")
    return (), tuple(names), refuse


def random_time(rng: random.Random) -> datetime:
    """Mostly around now, some on both sides of the UTCTime/GeneralizedTime boundaries (1950, 2050)."""
    pick = rng.random()
    if pick < 0.1:
        base = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
    elif pick < 0.2:
        base = datetime(2050, 1, 1, tzinfo=UTC)
    elif pick < 0.25:
        return datetime(1950, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**6))
    else:
        base = datetime(2026, 12, 1, tzinfo=UTC)
    return base + timedelta(seconds=rng.randint(-10**6, 10**6), microseconds=rng.randint(0, 999999))


def random_serial(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.05:
        return rng.choice([1, 127, 128, 255, 256, 0x7FFF, 0x8000, (1 << 159) - 1])
    return rng.getrandbits(rng.randint(64, 159)) | 1


@pytest.mark.parametrize("key_type", KEY_TYPES)
@pytest.mark.parametrize("profile_name", ["browser", "tls-server", "ocsp-responder"])
def test_template_tbs_is_the_builders_byte_for_byte(profile_name: str, key_type: str) -> None:
    rng = random.Random(f"{profile_name}/{key_type}")
    profile = load_profile(profile_name, PROFILES)
    compared = fallbacks = 0
    for case in range(CASES):
        issuer_key_type = ISSUER_KEY_TYPES[case % len(ISSUER_KEY_TYPES)]
        public_key = rng.choice(subject_keys(key_type))
        subject, bad_subject = random_subject(rng)
        emails, dns, bad_san = random_sans(rng, profile_name)
        not_before = random_time(rng)
        not_after = not_before + timedelta(days=rng.randint(1, 900), seconds=rng.randint(0, 86399))
        serial = random_serial(rng)
        chosen = shape(issuer_key_type, profile_name, key_family(public_key), bool(emails or dns))
        tbs = encode_tbs(chosen, serial_number=serial, not_before=not_before, not_after=not_after,
                         subject=subject, public_key=public_key, emails=emails, dns_names=dns)
        if bad_subject or bad_san:
            assert tbs is None, f"case {case}: the template encoded what it must leave to the builder: {subject}"
            fallbacks += 1
            continue
        assert tbs is not None, f"case {case}: the template refused {subject!r} {emails} {dns}"
        builder = leaf_builder(profile, subject, public_key, issuer(issuer_key_type), serial, not_before,
                               not_after, URLS, emails=emails, dns_names=dns)
        expected = preview(builder, issuer_key_type).tbs_certificate_bytes
        assert tbs == expected, f"case {case}: template and builder differ for {subject!r} {emails} {dns}"
        compared += 1
    assert compared >= CASES * 0.8 and fallbacks > 0


def test_the_shape_rejects_values_of_another_shape() -> None:
    ec_shape = shape("ec-p256", "browser", "ec", True)
    with pytest.raises(ValueError, match="do not belong"):
        encode_tbs(ec_shape, serial_number=5, not_before=datetime.now(UTC), not_after=datetime.now(UTC),
                   subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]),
                   public_key=subject_keys("rsa-2048")[0], emails=("a@b.example",))


def test_an_empty_subject_is_left_to_the_builder() -> None:
    """RFC 5280 §4.2.1.6: with an empty subject the SAN becomes critical — not the shape's bytes."""
    assert encode_tbs(shape("ec-p256", "browser", "ec", True), serial_number=5, not_before=datetime.now(UTC),
                      not_after=datetime.now(UTC), subject=x509.Name([]), public_key=subject_keys("ec-p256")[0],
                      emails=("a@b.example",)) is None
