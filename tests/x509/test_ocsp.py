"""ca.x509.ocsp: requests (RFC 6960 §4.1, RFC 9654 nonce), GET paths (RFC 5019/9919), responses (§4.2).

The PKI (root P-384, issuer P-256, delegated responder, two leaves) is generated at run time; malformed
requests come from tests/vectors/ocsp; responses are judged by cryptography, openssl and pkilint.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from asn1crypto import algos, core
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp as c_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca.keys.filekey import FileSigner
from ca.x509 import der
from ca.x509.ocsp import (
    CertIDKey,
    OCSPMalformed,
    SingleStatus,
    build_response,
    cert_id_der,
    decode_get_path,
    failure_response,
    issuer_match_keys,
    parse_request,
)
from ca.x509.signer import Signer
from tests.support.tools import require_tool

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ocsp"
NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
HASHES = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
REASONS = {
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


@dataclass(frozen=True)
class PKI:
    root: x509.Certificate
    issuer: x509.Certificate
    issuer_key: ec.EllipticCurvePrivateKey
    responder: x509.Certificate
    responder_key: ec.EllipticCurvePrivateKey
    leaf1: x509.Certificate
    leaf2: x509.Certificate
    directory: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portail PKI tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Certificate | None,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    days: int,
    ca: bool = False,
    responder: bool = False,
) -> x509.Certificate:
    now = datetime.now(UTC) - timedelta(minutes=5)
    issuer_public = signing_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    usage = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
        + ("encipher_only", "decipher_only"),
        False,
    )
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca, **usage), critical=True
    )
    if responder:  # BR §7.1.2.8: EKU OCSPSigning, id-pkix-ocsp-nocheck, no CDP, short-lived
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        ).add_extension(x509.OCSPNoCheck(), critical=False)
    algorithm = hashes.SHA384() if isinstance(signing_key.curve, ec.SECP384R1) else hashes.SHA256()
    return builder.sign(signing_key, algorithm)


def _responder(pki: PKI, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.Certificate:
    return _certificate(
        "OCSP responder", key.public_key(), pki.issuer, pki.issuer_key, days=30, responder=True
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _certificate("Test Root", root_key.public_key(), None, root_key, days=3650, ca=True)
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer = _certificate("Test Issuer", issuer_key.public_key(), root, root_key, days=1825, ca=True)
    responder_key = ec.generate_private_key(ec.SECP256R1())
    responder = _certificate(
        "OCSP responder", responder_key.public_key(), issuer, issuer_key, days=30, responder=True
    )
    leaves = [
        _certificate(
            f"leaf {i}", ec.generate_private_key(ec.SECP256R1()).public_key(), issuer, issuer_key, days=90
        )
        for i in (1, 2)
    ]
    directory = tmp_path_factory.mktemp("ocsp")
    for name, cert in (("root", root), ("issuer", issuer), ("responder", responder)):
        (directory / f"{name}.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    for i, cert in enumerate(leaves, 1):
        (directory / f"leaf{i}.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    return PKI(root, issuer, issuer_key, responder, responder_key, leaves[0], leaves[1], directory)


def _request(pki: PKI, hash_name: str = "sha1", nonce: bytes | None = None, leaf: str = "leaf1") -> bytes:
    builder = c_ocsp.OCSPRequestBuilder().add_certificate(getattr(pki, leaf), pki.issuer, HASHES[hash_name])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


def _asn1_request(cert_ids: list[bytes], extensions: list[dict] | None = None) -> asn1_ocsp.OCSPRequest:
    tbs: dict = {"request_list": [{"req_cert": asn1_ocsp.CertId.load(c)} for c in cert_ids]}
    if extensions is not None:
        tbs["request_extensions"] = extensions
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs})


def _openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("openssl"), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


# --- parse_request --------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("nonce", [None, b"\x5a" * 16])
def test_parse_cryptography_request(pki: PKI, hash_name: str, nonce: bytes | None) -> None:
    der = _request(pki, hash_name, nonce)
    parsed = parse_request(der)
    assert parsed.nonce == nonce
    (cert_id,) = parsed.cert_ids
    assert cert_id.hash_name == hash_name
    assert cert_id.serial_number == pki.leaf1.serial_number
    assert cert_id.issuer_match_key in issuer_match_keys(pki.issuer)
    assert parsed.cert_id_ders == (cert_id_der(pki.issuer, pki.leaf1.serial_number, hash_name),)
    assert parsed.cert_id_ders[0] in der


def test_parse_accepts_absent_hash_parameters_and_many_cert_ids(pki: PKI) -> None:
    cert_ids = []
    for serial in (1, 2, 3):
        cid = asn1_ocsp.CertId.load(cert_id_der(pki.issuer, serial, "sha512"))
        cert_ids.append(
            asn1_ocsp.CertId(
                {
                    "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha512"}),
                    "issuer_name_hash": cid["issuer_name_hash"].native,
                    "issuer_key_hash": cid["issuer_key_hash"].native,
                    "serial_number": serial,
                }
            ).dump()
        )
    parsed = parse_request(_asn1_request(cert_ids).dump())
    assert [c.serial_number for c in parsed.cert_ids] == [1, 2, 3]
    assert parsed.cert_id_ders == tuple(cert_ids)
    assert all(c.issuer_match_key in issuer_match_keys(pki.issuer) for c in parsed.cert_ids)


def test_parse_signed_request_ignores_signature(pki: PKI) -> None:
    request = asn1_ocsp.OCSPRequest.load(_request(pki))
    signed = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": request["tbs_request"],
            "optional_signature": {
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": b"\x00" * 8,  # not a valid signature: we do not check it
                "certs": [asn1_ocsp.Certificate.load(pki.leaf2.public_bytes(Encoding.DER))],
            },
        }
    )
    assert parse_request(signed.dump()).cert_ids[0].serial_number == pki.leaf1.serial_number


@pytest.mark.parametrize("size", [1, 16, 32, 33, 128])
def test_nonce_sizes_accepted(pki: PKI, size: int) -> None:
    nonce = bytes(range(size))
    assert parse_request(_request(pki, nonce=nonce)).nonce == nonce


@pytest.mark.parametrize("size", [0, 129, 1000])
def test_nonce_sizes_refused(pki: PKI, size: int) -> None:
    with pytest.raises(OCSPMalformed, match="nonce"):
        parse_request(_request(pki, nonce=b"\x01" * size))


def _raw_request(cert_id: bytes, *nonce_values: bytes) -> bytes:
    """OCSPRequest DER with each `nonce_values` item as a nonce extnValue, written TLV by TLV."""
    extensions = [der.sequence(der.oid("1.3.6.1.5.5.7.48.1.2"), der.octet_string(v)) for v in nonce_values]
    tbs_items = [der.sequence(der.sequence(cert_id))]
    if extensions:
        tbs_items.append(der.tlv(0xA2, der.sequence(*extensions)))  # requestExtensions [2] EXPLICIT
    return der.sequence(der.sequence(*tbs_items))


def test_raw_request_helper(pki: PKI) -> None:
    parsed = parse_request(_raw_request(cert_id_der(pki.issuer, 5), b"\x04\x03abc"))
    assert parsed.nonce == b"abc"


@pytest.mark.parametrize(
    "extn_value",
    [
        b"\x02\x01\x05",  # an INTEGER, not an OCTET STRING
        b"\x24\x80\x04\x01\xaa\x00\x00",  # constructed, indefinite: BER
        b"\x24\x03\x04\x01\xaa",  # constructed OCTET STRING
        b"\x04\x02\xaa",  # inner length runs past the end
        b"\x04\x01\xaa\xbb",  # trailing octet after the inner OCTET STRING
        b"\x04",
        b"",
        b"\x01" * 16,  # raw nonce octets without the OCTET STRING (RFC 9654 §2.1 requires it)
    ],
)
def test_nonce_not_an_octet_string(pki: PKI, extn_value: bytes) -> None:
    with pytest.raises(OCSPMalformed):
        parse_request(_raw_request(cert_id_der(pki.issuer, 5), extn_value))


def test_double_nonce_refused(pki: PKI) -> None:
    nonce = b"\x04\x10" + b"\x01" * 16
    with pytest.raises(OCSPMalformed, match="more than one"):
        parse_request(_raw_request(cert_id_der(pki.issuer, 5), nonce, nonce))


def test_openssl_requests(pki: PKI) -> None:
    d = pki.directory
    for args, out in (
        (["-cert", "leaf1.pem", "-no_nonce"], "plain.der"),
        (["-cert", "leaf1.pem"], "nonce.der"),
        (["-sha256", "-cert", "leaf1.pem", "-cert", "leaf2.pem"], "two.der"),  # digest goes before -cert
    ):
        result = _openssl("ocsp", "-issuer", "issuer.pem", *args, "-reqout", out, cwd=d)
        assert result.returncode == 0, result.stderr
    plain = parse_request((d / "plain.der").read_bytes())
    assert plain.nonce is None
    assert plain.cert_ids[0].hash_name == "sha1"
    assert plain.cert_ids[0].serial_number == pki.leaf1.serial_number
    assert plain.cert_ids[0].issuer_match_key in issuer_match_keys(pki.issuer)

    # openssl's default nonce: 16 random octets, extnValue = DER OCTET STRING (04 10 ...), as RFC 9654 wants
    nonce_der = (d / "nonce.der").read_bytes()
    with_nonce = parse_request(nonce_der)
    assert with_nonce.nonce is not None and len(with_nonce.nonce) == 16
    assert core.OctetString(b"\x04\x10" + with_nonce.nonce).dump() in nonce_der

    two = parse_request((d / "two.der").read_bytes())
    assert [c.serial_number for c in two.cert_ids] == [pki.leaf1.serial_number, pki.leaf2.serial_number]
    assert {c.hash_name for c in two.cert_ids} == {"sha256"}
    assert all(c.issuer_match_key in issuer_match_keys(pki.issuer) for c in two.cert_ids)


@pytest.mark.parametrize(
    "der",
    [b"", b"\x00", b"hello", b"\x30", b"\x30\x00", b"\x30\x80\x00\x00", b"\x04\x03abc", b"\x30\x03\x02\x01"],
)
def test_garbage(der: bytes) -> None:
    with pytest.raises(OCSPMalformed):
        parse_request(der)


def test_other_der_structures_refused(pki: PKI) -> None:
    for data in (pki.leaf1.public_bytes(Encoding.DER), failure_response("tryLater")):
        with pytest.raises(OCSPMalformed):
            parse_request(data)


def test_every_truncation_and_trailing_byte_refused(pki: PKI) -> None:
    der = _request(pki, nonce=b"\x07" * 16)
    for cut in range(len(der)):
        with pytest.raises(OCSPMalformed):
            parse_request(der[:cut])
    with pytest.raises(OCSPMalformed, match="trailing"):
        parse_request(der + b"\x00")


def test_non_minimal_length_refused(pki: PKI) -> None:
    der = _request(pki)
    assert der[1] < 0x80
    with pytest.raises(OCSPMalformed):
        parse_request(b"\x30\x81" + der[1:])


def test_empty_request_list_refused() -> None:
    with pytest.raises(OCSPMalformed):
        parse_request(_asn1_request([]).dump())


GOLDEN = {
    "truncated.der": "truncated",
    "trailing-garbage.der": "trailing",
    "nonce-129.der": "129 octets",
    "nonce-0.der": "0 octets",
    "hash-sha224.der": "unsupported CertID hash",
    "hash-md5.der": "unsupported CertID hash",
    "empty-request-list.der": "empty",
    "ber-indefinite.der": "indefinite",
}


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.der")), ids=lambda p: p.name)
def test_golden_malformed_vectors(path: Path) -> None:
    with pytest.raises(OCSPMalformed, match=GOLDEN[path.name]):
        parse_request(path.read_bytes())


def test_golden_vectors_present() -> None:
    assert {p.name for p in VECTORS.glob("*.der")} == set(GOLDEN)


# --- GET ------------------------------------------------------------------------------------------


def _awkward_request(pki: PKI) -> bytes:
    """A request whose base64 has '//', '+' and padding: the characters routers mangle."""
    head = cert_id_der(pki.issuer, 1)[2:-3]  # hashAlgorithm, issuerNameHash, issuerKeyHash
    for serial in range(1 << 40, (1 << 40) + 200_000):
        request = der.sequence(
            der.sequence(der.sequence(der.sequence(der.sequence(head + der.integer(serial)))))
        )
        text = base64.b64encode(request).decode()
        if "//" in text and "+" in text and text.endswith("="):
            return request
    raise AssertionError("no awkward serial found")


def test_get_path_variants(pki: PKI) -> None:
    der_bytes = _awkward_request(pki)
    text = base64.b64encode(der_bytes).decode()
    variants = {
        "plain": text,
        "escaped": quote(text, safe=""),  # %2F %2B %3D
        "plus as space": text.replace("+", " "),
        "escaped plus as space": quote(text, safe="").replace("%2B", "+").replace("+", " "),
        "no padding": text.rstrip("="),
        "url-safe": base64.urlsafe_b64encode(der_bytes).decode().rstrip("="),
        "double slash before": "/" + text,
        "// merged into /": text.replace("//", "/", 1),
        "// merged, escaped, no padding": quote(text.replace("//", "/", 1).rstrip("="), safe="/"),
    }
    for name, path in variants.items():
        assert decode_get_path(path) == der_bytes, name
    assert parse_request(der_bytes).cert_ids[0].issuer_match_key in issuer_match_keys(pki.issuer)


@pytest.mark.parametrize(
    "path", ["", "/", "=", "!!!!", "%ZZ", "%FF%FE", "AAAA", "TUVvd", "A" * 5000, "Zm9v\n"]
)
def test_get_path_garbage(path: str) -> None:
    with pytest.raises(OCSPMalformed):
        decode_get_path(path)


# --- issuers --------------------------------------------------------------------------------------


def test_issuer_match_keys(pki: PKI) -> None:
    keys = issuer_match_keys(pki.issuer)
    assert {k[0] for k in keys} == {"sha1", "sha256", "sha384", "sha512"}
    subject = pki.issuer.subject.public_bytes()
    point = pki.issuer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    for name, algorithm in HASHES.items():
        expected = (name, _digest(algorithm, subject), _digest(algorithm, point))
        assert expected in keys
    assert not keys & issuer_match_keys(pki.root)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    return hashlib.new(algorithm.name, data).digest()


def test_cert_id_der_rejects_unknown_hash(pki: PKI) -> None:
    with pytest.raises(ValueError):
        cert_id_der(pki.issuer, 1, "md5")


# --- responses ------------------------------------------------------------------------------------


def _build(
    pki: PKI,
    statuses: list[SingleStatus],
    nonce: bytes | None = None,
    *,
    now: datetime = NOW,
    key: object | None = None,
    responder: x509.Certificate | None = None,
) -> bytes:
    return build_response(
        responder_cert=responder or pki.responder,
        responder_signer=_as_signer(key or pki.responder_key),
        statuses=statuses,
        this_update=now,
        next_update=now + timedelta(days=4),
        produced_at=now + timedelta(seconds=1),
        nonce=nonce,
    )


def _check_signature(response: c_ocsp.OCSPResponse, certificate: x509.Certificate) -> None:
    public = certificate.public_key()
    algorithm = response.signature_hash_algorithm
    assert algorithm is not None
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))


@pytest.mark.parametrize("hash_name", ["sha1", "sha256", "sha512"])
def test_good_round_trip(pki: PKI, hash_name: str) -> None:
    nonce = b"\x42" * 32
    request = parse_request(_request(pki, hash_name, nonce))
    der = _build(pki, [SingleStatus(request.cert_id_ders[0], "good")], request.nonce)
    response = c_ocsp.load_der_ocsp_response(der)
    assert response.response_status == c_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == c_ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == pki.leaf1.serial_number
    assert response.hash_algorithm.name == hash_name  # Boulder #1494: answer in the request's hash
    assert response.this_update_utc == NOW
    assert response.next_update_utc == NOW + timedelta(days=4)
    assert response.produced_at_utc == NOW + timedelta(seconds=1)
    assert response.responder_name is None
    assert (
        response.responder_key_hash
        == x509.SubjectKeyIdentifier.from_public_key(pki.responder.public_key()).digest
    )  # RFC 6960 §4.2.1: SHA-1 of the subjectPublicKey value
    assert response.certificates == [pki.responder]
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert request.cert_id_ders[0] in der  # the CertID is echoed byte for byte
    _check_signature(response, pki.responder)


@pytest.mark.parametrize("reason", [None, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10])
def test_revoked_round_trip(pki: PKI, reason: int | None) -> None:
    revoked_at = NOW - timedelta(days=1, microseconds=1234)
    request = parse_request(_request(pki))
    der = _build(pki, [SingleStatus(request.cert_id_ders[0], "revoked", revoked_at, reason)])
    response = c_ocsp.load_der_ocsp_response(der)
    assert response.certificate_status == c_ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at.replace(microsecond=0)
    assert response.revocation_reason == (REASONS[reason] if reason else None)
    assert len(response.extensions) == 0
    _check_signature(response, pki.responder)


def test_unknown_and_several_statuses(pki: PKI) -> None:
    request = parse_request(_request(pki))
    other = cert_id_der(pki.issuer, 123456789, "sha256")
    statuses = [
        SingleStatus(request.cert_id_ders[0], "good"),
        SingleStatus(other, "unknown"),
        SingleStatus(cert_id_der(pki.issuer, pki.leaf2.serial_number), "revoked", NOW, 4),
    ]
    response = c_ocsp.load_der_ocsp_response(_build(pki, statuses))
    singles = list(response.responses)
    assert [s.certificate_status for s in singles] == [
        c_ocsp.OCSPCertStatus.GOOD,
        c_ocsp.OCSPCertStatus.UNKNOWN,
        c_ocsp.OCSPCertStatus.REVOKED,
    ]
    assert [s.serial_number for s in singles] == [pki.leaf1.serial_number, 123456789, pki.leaf2.serial_number]
    assert [s.hash_algorithm.name for s in singles] == ["sha1", "sha256", "sha1"]
    assert all(s.next_update_utc == NOW + timedelta(days=4) for s in singles)
    assert singles[2].revocation_reason == x509.ReasonFlags.superseded


def _as_signer(key: object) -> Signer:
    """A private key goes behind the Signer port as the CA does it (FileSigner); a Signer stays as it is."""
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return FileSigner(key)
    assert hasattr(key, "sign") and hasattr(key, "key_type")
    return key  # type: ignore[return-value]


class _FakeSigner:
    """Stands for ca.keys Signer: signs bytes, never shows its key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    @property
    def key_type(self) -> str:
        return "ec-p256"

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("kind", ["p384", "rsa", "signer"])
def test_responder_key_types(pki: PKI, kind: str) -> None:
    key: object
    if kind == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
        responder, expected = _responder(pki, key), "sha384"  # type: ignore[arg-type]
    elif kind == "rsa":
        key = rsa.generate_private_key(65537, 2048)
        responder, expected = _responder(pki, key), "sha256"  # type: ignore[arg-type]
    else:
        key, responder, expected = _FakeSigner(pki.responder_key), pki.responder, "sha256"
    request = parse_request(_request(pki))
    der = _build(pki, [SingleStatus(request.cert_id_ders[0], "good")], key=key, responder=responder)
    response = c_ocsp.load_der_ocsp_response(der)
    assert response.signature_hash_algorithm is not None
    assert response.signature_hash_algorithm.name == expected
    _check_signature(response, responder)


def test_build_response_refuses_misuse(pki: PKI) -> None:
    good = [SingleStatus(cert_id_der(pki.issuer, 1), "good")]
    with pytest.raises(ValueError, match="does not match"):
        _build(pki, good, key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError):
        _build(pki, [])
    with pytest.raises(ValueError):
        _build(pki, good, nonce=b"")
    with pytest.raises(ValueError):
        _build(pki, good, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        _build(pki, [SingleStatus(b"\x30\x00", "good")])
    with pytest.raises(ValueError):
        build_response(
            responder_cert=pki.responder,
            responder_signer=FileSigner(pki.responder_key),
            statuses=good,
            this_update=NOW,
            next_update=NOW,
            produced_at=NOW,
            nonce=None,
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": "expired"},
        {"status": "revoked"},
        {"status": "revoked", "revocation_time": NOW, "revocation_reason": 7},
        {"status": "good", "revocation_time": NOW},
        {"status": "unknown", "revocation_reason": 1},
    ],
)
def test_single_status_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SingleStatus(cert_id_der=b"", **kwargs)


def test_cert_id_key_is_hashable() -> None:
    key = CertIDKey("sha1", b"a" * 20, b"b" * 20, 7)
    assert {key: 1}[CertIDKey("sha1", b"a" * 20, b"b" * 20, 7)] == 1
    assert key.issuer_match_key == ("sha1", b"a" * 20, b"b" * 20)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("malformedRequest", c_ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
        ("internalError", c_ocsp.OCSPResponseStatus.INTERNAL_ERROR),
        ("tryLater", c_ocsp.OCSPResponseStatus.TRY_LATER),
        ("unauthorized", c_ocsp.OCSPResponseStatus.UNAUTHORIZED),
    ],
)
def test_failure_responses(status: str, expected: c_ocsp.OCSPResponseStatus) -> None:
    der = failure_response(status)
    assert der == bytes([0x30, 0x03, 0x0A, 0x01, expected.value])  # RFC 6960 §4.2.1, no responseBytes
    assert c_ocsp.load_der_ocsp_response(der).response_status == expected


@pytest.mark.parametrize("status", ["successful", "sigRequired", "malformed_request", ""])
def test_failure_response_refuses_other_statuses(status: str) -> None:
    with pytest.raises(ValueError):
        failure_response(status)


# --- external judges ------------------------------------------------------------------------------


@pytest.mark.interop
@pytest.mark.parametrize(
    ("hash_args", "statuses", "expected"),
    [
        ([], ("good", "good"), ["leaf1.pem: good", "leaf2.pem: good"]),
        (
            ["-sha256"],
            ("revoked", "unknown"),
            ["leaf1.pem: revoked", "Reason: keyCompromise", "leaf2.pem: unknown"],
        ),
    ],
)
def test_openssl_verifies_response(
    pki: PKI, tmp_path: Path, hash_args: list[str], statuses: tuple[str, str], expected: list[str]
) -> None:
    d = pki.directory
    ids = ["-issuer", "issuer.pem", *hash_args, "-cert", "leaf1.pem", "-cert", "leaf2.pem"]
    req = tmp_path / "req.der"
    assert _openssl("ocsp", *ids, "-reqout", req, cwd=d).returncode == 0  # with openssl's default nonce
    request = parse_request(req.read_bytes())
    now = datetime.now(UTC)
    singles = [
        SingleStatus(
            cid, s, now - timedelta(hours=1) if s == "revoked" else None, 1 if s == "revoked" else None
        )
        for cid, s in zip(request.cert_id_ders, statuses, strict=True)
    ]
    resp = tmp_path / "resp.der"
    resp.write_bytes(_build(pki, singles, request.nonce, now=now - timedelta(minutes=1)))
    # openssl ignores -reqin when -cert is given (it builds a fresh request with a fresh nonce), so the
    # nonce echo is checked against the request file and the statuses are printed by a second run.
    checked = _openssl(
        "ocsp", "-respin", resp, "-reqin", req, "-verify_other", "issuer.pem", "-CAfile", "root.pem", cwd=d
    )
    printed = _openssl("ocsp", "-respin", resp, *ids, "-no_nonce", "-CAfile", "root.pem", cwd=d)
    for result in (checked, printed):
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Response verify OK" in output
        assert "WARNING" not in output and "error" not in output.lower(), output
    for line in expected:
        assert line in printed.stdout, printed.stdout


@pytest.mark.interop
@pytest.mark.parametrize("status", ["good", "revoked"])
def test_pkilint_accepts_response(pki: PKI, tmp_path: Path, status: str) -> None:
    now = datetime.now(UTC)
    request = parse_request(_request(pki, nonce=b"\x11" * 32))
    revoked = (now - timedelta(days=2), 1) if status == "revoked" else (None, None)
    single = SingleStatus(request.cert_id_ders[0], status, *revoked)  # type: ignore[arg-type]
    path = tmp_path / "resp.der"
    path.write_bytes(_build(pki, [single], request.nonce, now=now))
    result = subprocess.run(
        [require_tool("lint_ocsp_response"), "lint", "-s", "WARNING", str(path)], capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
