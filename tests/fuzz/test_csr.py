"""Fuzzing CSR parsing (issue 10 item 8): `checked_csr` and `parse_and_check_csr` either return a checked CSR
or raise BadCSRError (a BadRequestError, which the adapters answer 400) — never another exception, never a
slow answer (each example has the profile's deadline) — on arbitrary bytes, on real CSRs damaged (bit flips,
truncations, byte edits, DER subtrees replaced, PEM armour varied), and on valid CSRs of every key type
cryptography can sign with."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import assume, given
from hypothesis import strategies as st

from ca.errors import BadCSRError, BadRequestError
from ca.x509.csr import MAX_CSR_BYTES, CheckedCSR, checked_csr, parse_and_check_csr
from tests.fuzz.budget import parser_settings
from tests.fuzz.mutations import der_tlvs, mutated, pem_armoured
from tests.vectors.bad_csrs import build_bad_csrs, csr_for


@functools.cache
def keys() -> dict[str, object]:
    """One private key per type, made once per process (RSA generation is the slow part)."""
    return {
        "ec-p256": ec.generate_private_key(ec.SECP256R1()),
        "ec-p384": ec.generate_private_key(ec.SECP384R1()),
        "ec-p521": ec.generate_private_key(ec.SECP521R1()),
        "ec-p192": ec.generate_private_key(ec.SECP192R1()),
        "ec-secp256k1": ec.generate_private_key(ec.SECP256K1()),
        "ec-brainpool256": ec.generate_private_key(ec.BrainpoolP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "ed448": ed448.Ed448PrivateKey.generate(),
        "rsa-2048": rsa.generate_private_key(65537, 2048),
        "rsa-3072": rsa.generate_private_key(65537, 3072),
        "rsa-1024": rsa.generate_private_key(65537, 1024),
        "rsa-2048-e3": rsa.generate_private_key(3, 2048),
        "dsa-2048": dsa.generate_private_key(2048),
    }


_T0, _T1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
ACCEPTED = {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072"}  # ca.x509.keycheck: BR §6.1.5


@functools.cache
def seeds() -> list[bytes]:
    """Real inputs to damage: good CSRs (PEM and DER), the golden bad ones, a certificate."""
    good = [csr_for(keys()[name], encoding) for name in ("ec-p256", "rsa-2048") for encoding in ("pem", "der")]
    ed = x509.CertificateSigningRequestBuilder().subject_name(_name("ed")).sign(keys()["ed25519"], None)
    good.append(ed.public_bytes(Encoding.DER))
    bad = [data for name, data in build_bad_csrs().items() if name not in ("huge", "empty")]
    certificate = (x509.CertificateBuilder().subject_name(_name("seed")).issuer_name(_name("seed"))
                   .public_key(keys()["ec-p256"].public_key()).serial_number(1)
                   .not_valid_before(_T0).not_valid_after(_T1).sign(keys()["ec-p256"], hashes.SHA256()))
    return good + bad + [certificate.public_bytes(Encoding.DER)]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def outcome(data: bytes | bytearray) -> str:
    """Run both entry points; anything but a CheckedCSR or a BadCSRError fails the property."""
    try:
        result = checked_csr(data)
    except BadCSRError as exc:
        assert isinstance(exc, BadRequestError) and str(exc), exc
        try:
            parse_and_check_csr(data)
        except BadCSRError:
            return "BadCSRError"
        raise AssertionError("checked_csr refused what parse_and_check_csr accepted") from None
    assert isinstance(result, CheckedCSR)
    assert x509.load_der_x509_csr(result.der).public_key() == result.csr.public_key()
    assert len(result.spki_sha256) == 64
    assert checked_csr(result) is result
    parse_and_check_csr(data)
    return "CheckedCSR"


@parser_settings()
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes(data, fuzz_tally):
    fuzz_tally(outcome(data))


@parser_settings()
@given(data=st.one_of(der_tlvs, st.builds(lambda b: b"\x30\x82" + b, st.binary(max_size=600))))
def test_random_der(data, fuzz_tally):
    fuzz_tally(outcome(data))


@parser_settings()
@given(data=st.builds(lambda: None).flatmap(lambda _: mutated(seeds())))
def test_mutated_real_csrs(data, fuzz_tally):
    fuzz_tally(outcome(data))


@functools.cache
def der_seeds() -> list[bytes]:
    return [x509.load_pem_x509_csr(s).public_bytes(Encoding.DER) if s.startswith(b"-----") else s for s in seeds()]


@parser_settings()
@given(data=st.builds(lambda: None).flatmap(lambda _: st.sampled_from(der_seeds())).flatmap(
    lambda seed: st.one_of(st.just(seed), mutated([seed]))).flatmap(pem_armoured), as_bytearray=st.booleans())
def test_pem_armour_variants(data, as_bytearray, fuzz_tally):
    fuzz_tally(outcome(bytearray(data) if as_bytearray else data))


@parser_settings()
@given(size=st.sampled_from([MAX_CSR_BYTES - 1, MAX_CSR_BYTES, MAX_CSR_BYTES + 1, 4 * MAX_CSR_BYTES]),
       fill=st.sampled_from([b"\n", b" ", b"\x00", b"A", b"\x30"]), pem=st.booleans())
def test_size_limit(size, fill, pem, fuzz_tally):
    seed = csr_for(keys()["ec-p256"], "pem" if pem else "der")
    data = (seed + fill * size)[:max(size, len(seed))]
    result = outcome(data)
    if len(data) > MAX_CSR_BYTES:
        assert result == "BadCSRError"
    fuzz_tally(result)


_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
           "sha224": hashes.SHA224(), "sha1": hashes.SHA1(), "sha3-256": hashes.SHA3_256()}
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=64)
_ATTRIBUTES = [NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
               NameOID.EMAIL_ADDRESS, NameOID.SERIAL_NUMBER, NameOID.LOCALITY_NAME]


@st.composite
def valid_csrs(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """A correctly self-signed CSR: random key type, signature hash, subject and requested extensions."""
    key_type = draw(st.sampled_from(sorted(keys())))
    key = keys()[key_type]
    hash_name = "none" if key_type.startswith("ed") else draw(st.sampled_from(sorted(_HASHES)))
    names = draw(st.lists(st.tuples(st.sampled_from(_ATTRIBUTES), _TEXT), max_size=4))
    dns = draw(st.lists(st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,20}){0,3}", fullmatch=True), max_size=3))
    critical, constraints, ca = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    try:
        builder = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(oid, value) for oid, value in names]))
        if dns:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical)
        if constraints:
            builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        csr = builder.sign(key, None if hash_name == "none" else _HASHES[hash_name])
    except (ValueError, TypeError, UnsupportedAlgorithm):  # what cryptography will not build or sign (DSA+SHA-3)
        assume(False)
        raise
    encoding = draw(st.sampled_from([Encoding.PEM, Encoding.DER]))
    return key_type, hash_name, csr.public_bytes(encoding)


@parser_settings()
@given(case=valid_csrs())
def test_valid_csrs_of_random_key_types(case, fuzz_tally):
    key_type, hash_name, data = case
    result = outcome(data)
    if key_type in ACCEPTED and hash_name in ("sha256", "sha384", "sha512"):
        assert result == "CheckedCSR", (key_type, hash_name)
    if key_type not in ACCEPTED:
        assert result == "BadCSRError", key_type
    fuzz_tally(f"{result} ({'accepted key' if key_type in ACCEPTED else 'refused key'})")
