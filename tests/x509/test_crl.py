"""ca.x509.crl: round-trips via cryptography, openssl and pkilint; equivalence with cryptography's builder."""

from __future__ import annotations

import random
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import CRLEntryExtensionOID

from ca.x509 import crl as crl_mod
from ca.x509.der import signature_algorithm_der
from ca.x509.reasons import REASON_CODES, REASON_NAMES
from tests.support.tools import require_tool
from tests.x509.crl_helpers import CA, make_ca, make_leaf, make_pki

NOW = datetime.now(UTC).replace(microsecond=0)
REASON_CYCLE = [None, 0, 1, 2, 3, 4, 5, 9, 10]



@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    return make_pki()


def _entries(count: int, seed: int = 1) -> list[crl_mod.RevokedEntry]:
    rng = random.Random(seed)
    return [
        (
            rng.getrandbits(159) | 1 << 100,
            NOW - timedelta(seconds=rng.randrange(30 * 86400), microseconds=rng.randrange(10**6)),
            REASON_CYCLE[i % len(REASON_CYCLE)],
        )
        for i in range(count)
    ]


def _make_crl(issuer: CA, entries, *, signer=None, this_update=None, next_update=None, **extra) -> bytes:
    signer = signer or issuer.signer
    this_update = this_update or NOW - timedelta(minutes=5)
    tbs = crl_mod.encode_tbs_crl(
        issuer_name_der=issuer.name_der,
        issuer_key_id=issuer.key_id,
        signature_algorithm_der=signature_algorithm_der(signer.key_type),
        this_update=this_update,
        next_update=next_update or this_update + timedelta(days=7),
        crl_number=extra.pop("crl_number", 42),
        entries=entries,
        **extra,
    )
    return crl_mod.sign_crl(tbs, signer)


def _write(path: Path, *objects: x509.Certificate) -> Path:
    path.write_bytes(b"".join(obj.public_bytes(serialization.Encoding.PEM) for obj in objects))
    return path


# --- round-trips through cryptography ---------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3, 1000])
def test_round_trip(pki, count):
    _, issuer = pki
    entries = _entries(count)
    der_crl = _make_crl(issuer, entries, crl_number=7)
    parsed = x509.load_der_x509_crl(der_crl)
    assert parsed.is_signature_valid(issuer.cert.public_key())
    assert parsed.issuer.public_bytes() == issuer.name_der
    assert parsed.signature_algorithm_oid == issuer.cert.signature_algorithm_oid  # ecdsa-with-SHA256
    assert len(parsed) == count
    for revoked, (serial, date, reason) in zip(parsed, entries, strict=True):  # input order is kept
        assert revoked.serial_number == serial
        assert revoked.revocation_date_utc == date.replace(microsecond=0)
        if reason in (None, 0):
            assert len(revoked.extensions) == 0  # RFC 5280 §5.3.1: unspecified is omitted
        else:
            extension = revoked.extensions.get_extension_for_oid(CRLEntryExtensionOID.CRL_REASON)
            assert not extension.critical
            assert extension.value.reason == x509.ReasonFlags(REASON_NAMES[reason])
    number = parsed.extensions.get_extension_for_class(x509.CRLNumber)
    assert number.value.crl_number == 7 and not number.critical
    aki = parsed.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == issuer.key_id and not aki.critical
    assert aki.value.authority_cert_issuer is None
    assert len(parsed.extensions) == 2
    assert parsed.last_update_utc == NOW - timedelta(minutes=5)


def test_empty_crl_omits_revoked_certificates(pki):
    _, issuer = pki
    tbs = asn1_crl.CertificateList.load(_make_crl(issuer, []))["tbs_cert_list"]
    assert tbs["version"].native == "v2"
    # version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: no empty SEQUENCE in between
    contents, fields = parser.parse(tbs.dump())[4], []
    while contents:
        size = parser.peek(contents)
        class_, _, tag, *_ = parser.parse(contents[:size])
        fields.append((class_, tag))
        contents = contents[size:]
    assert fields == [(0, 2), (0, 16), (0, 16), (0, 23), (0, 23), (2, 0)]


def test_generator_input_and_non_utc_dates(pki):
    _, issuer = pki
    paris = timezone(timedelta(hours=2))
    local = datetime(2030, 6, 1, 14, 0, 5, tzinfo=paris)
    parsed = x509.load_der_x509_crl(_make_crl(issuer, ((n, local, 4) for n in (3, 1, 2))))
    assert [r.serial_number for r in parsed] == [3, 1, 2]
    assert parsed[0].revocation_date_utc == datetime(2030, 6, 1, 12, 0, 5, tzinfo=UTC)


def test_delta_crl_indicator(pki):
    _, issuer = pki
    parsed = x509.load_der_x509_crl(_make_crl(issuer, _entries(3), crl_number=12, delta_base_crl_number=10))
    delta = parsed.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert delta.critical and delta.value.crl_number == 10
    assert parsed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 12
    assert parsed.is_signature_valid(issuer.cert.public_key())


def test_freshest_crl(pki):
    _, issuer = pki
    url = "http://pki.example.test/pki/crl/issuer-delta.crl"
    parsed = x509.load_der_x509_crl(_make_crl(issuer, _entries(2), freshest_crl_url=url))
    freshest = parsed.extensions.get_extension_for_class(x509.FreshestCRL)
    assert not freshest.critical
    [point] = freshest.value
    assert point.full_name == [x509.UniformResourceIdentifier(url)]
    assert point.relative_name is None and point.reasons is None and point.crl_issuer is None


def test_dates_from_2050_are_generalized_time(pki):
    _, issuer = pki
    this_update = datetime(2049, 12, 31, 23, 0, 0, tzinfo=UTC)
    entries = [
        (5, datetime(2050, 1, 1, 0, 0, 1, tzinfo=UTC), 1),
        (6, datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), None),
    ]
    der_crl = _make_crl(
        issuer, entries, this_update=this_update, next_update=datetime(2050, 1, 2, tzinfo=UTC)
    )
    tbs = asn1_crl.CertificateList.load(der_crl)["tbs_cert_list"]
    assert tbs["this_update"].name == "utc_time"
    assert tbs["next_update"].name == "general_time"
    assert tbs["next_update"].chosen.contents == b"20500102000000Z"
    first, second = tbs["revoked_certificates"]
    assert first["revocation_date"].name == "general_time"
    assert first["revocation_date"].chosen.contents == b"20500101000001Z"
    assert second["revocation_date"].name == "utc_time"
    assert second["revocation_date"].chosen.contents == b"491231235959Z"
    parsed = x509.load_der_x509_crl(der_crl)
    assert [r.revocation_date_utc for r in parsed] == [e[1] for e in entries]


def test_twenty_byte_serials_with_top_bit_set(pki):
    _, issuer = pki
    serials = [(1 << 159) | 0xABCDEF, (1 << 160) - 1, 0x80, 0x7F, 1]
    der_crl = _make_crl(issuer, [(s, NOW, 1) for s in serials])
    tbs = asn1_crl.CertificateList.load(der_crl)["tbs_cert_list"]
    contents = [entry["user_certificate"].contents for entry in tbs["revoked_certificates"]]
    assert contents[0][:1] == b"\x00" and len(contents[0]) == 21  # leading zero keeps it positive
    assert contents[1] == b"\x00" + b"\xff" * 20
    assert contents[2:] == [b"\x00\x80", b"\x7f", b"\x01"]
    assert [r.serial_number for r in x509.load_der_x509_crl(der_crl)] == serials


def test_rsa_and_p384_signers():
    for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
        issuer = make_ca("Other Issuer", key)
        parsed = x509.load_der_x509_crl(_make_crl(issuer, _entries(5)))
        assert parsed.is_signature_valid(key.public_key())
        assert parsed.signature_hash_algorithm.name == (
            "sha384" if isinstance(key, ec.EllipticCurvePrivateKey) else "sha256"
        )


@pytest.mark.parametrize(
    "entry",
    [
        (1, NOW, 6),
        (1, NOW, 7),
        (1, NOW, 8),
        (1, NOW, 11),
        (1, NOW, "keyCompromise"),
        (0, NOW, 1),
        (-5, NOW, None),
        (1 << 160, NOW, None),
        (1, NOW.replace(tzinfo=None), None),
    ],
)
def test_bad_entries_are_refused(pki, entry):
    _, issuer = pki
    with pytest.raises(ValueError):
        _make_crl(issuer, [(2, NOW, 1), entry])


def test_certificate_hold_message(pki):
    _, issuer = pki
    with pytest.raises(ValueError, match="certificateHold"):
        _make_crl(issuer, [(2, NOW, 6)])


@pytest.mark.parametrize(
    "extra",
    [
        {"crl_number": -1},
        {"crl_number": 1 << 159},
        {"crl_number": 5, "delta_base_crl_number": 5},
        {"delta_base_crl_number": 1, "freshest_crl_url": "http://x.test/d.crl"},  # §5.2.6: not in a delta CRL
        {"next_update": NOW - timedelta(days=1)},
        {"this_update": NOW.replace(tzinfo=None)},
        {"issuer_key_id": b""},
    ],
)
def test_bad_headers_are_refused(pki, extra):
    _, issuer = pki
    args = {
        "issuer_name_der": issuer.name_der,
        "issuer_key_id": issuer.key_id,
        "signature_algorithm_der": signature_algorithm_der("ec-p256"),
        "this_update": NOW,
        "next_update": NOW + timedelta(days=1),
        "crl_number": 3,
        "entries": [],
    }
    with pytest.raises(ValueError):
        crl_mod.encode_tbs_crl(**(args | extra))


def test_time_cache_is_bounded(pki, monkeypatch):
    _, issuer = pki
    monkeypatch.setattr(crl_mod, "_CACHE_LIMIT", 4)
    entries = [(i + 1, NOW - timedelta(seconds=i % 7), 1) for i in range(50)]
    parsed = x509.load_der_x509_crl(_make_crl(issuer, entries))
    assert [r.revocation_date_utc for r in parsed] == [e[1] for e in entries]


# --- equivalence with cryptography's builder -------------------------------------------------------


def test_same_content_as_cryptography_builder(pki):
    _, issuer = pki
    entries = _entries(200, seed=7)
    this_update, next_update = NOW - timedelta(hours=1), NOW + timedelta(days=7)
    ours = x509.load_der_x509_crl(
        _make_crl(issuer, entries, this_update=this_update, next_update=next_update)
    )
    reason_flags = {code: x509.ReasonFlags(REASON_NAMES[code]) for code in REASON_CODES.values()}
    revoked = []
    for serial, date, reason in entries:
        builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(date.replace(microsecond=0))
        )
        if reason not in (None, 0):
            builder = builder.add_extension(x509.CRLReason(reason_flags[reason]), critical=False)
        revoked.append(builder.build())
    theirs = (
        x509.CertificateRevocationListBuilder(
            issuer_name=issuer.cert.subject,
            last_update=this_update,
            next_update=next_update,
            revoked_certificates=revoked,
        )
        .add_extension(x509.AuthorityKeyIdentifier(issuer.key_id, None, None), critical=False)
        .add_extension(x509.CRLNumber(42), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    assert theirs.is_signature_valid(issuer.cert.public_key())
    assert ours.issuer == theirs.issuer
    assert ours.last_update_utc == theirs.last_update_utc
    assert ours.next_update_utc == theirs.next_update_utc
    assert list(ours.extensions) == list(theirs.extensions)
    assert [(r.serial_number, r.revocation_date_utc, list(r.extensions)) for r in ours] == [
        (r.serial_number, r.revocation_date_utc, list(r.extensions)) for r in theirs
    ]
    assert ours.tbs_certlist_bytes == theirs.tbs_certlist_bytes  # same DER, byte for byte


# --- external validators ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openssl_files(pki, tmp_path_factory):
    root, issuer = pki
    directory = tmp_path_factory.mktemp("crl")
    good, bad = make_leaf(issuer, 0x1111), make_leaf(issuer, (1 << 158) | 0x2222)
    entries = _entries(50) + [(bad.serial_number, NOW - timedelta(minutes=1), REASON_CODES["keyCompromise"])]
    der_crl = _make_crl(issuer, entries)
    (directory / "crl.der").write_bytes(der_crl)
    pem = x509.load_der_x509_crl(der_crl).public_bytes(serialization.Encoding.PEM)
    (directory / "crl.pem").write_bytes(pem)
    return {
        "dir": directory,
        "chain": _write(directory / "issuer_and_root.pem", issuer.cert, root.cert),
        "root": _write(directory / "root.pem", root.cert),
        "issuer": _write(directory / "issuer.pem", issuer.cert),
        "good": _write(directory / "good.pem", good),
        "bad": _write(directory / "bad.pem", bad),
    }


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.interop
def test_openssl_verifies_crl_signature(openssl_files):
    files = openssl_files
    result = _run(
        require_tool("openssl"),
        "crl",
        "-inform",
        "DER",
        "-in",
        files["dir"] / "crl.der",
        "-CAfile",
        files["chain"],
        "-verify",
        "-noout",
    )
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr + result.stdout


@pytest.mark.interop
@pytest.mark.parametrize("leaf, accepted", [("good", True), ("bad", False)])
def test_openssl_crl_check(openssl_files, leaf, accepted):
    files = openssl_files
    result = _run(
        require_tool("openssl"),
        "verify",
        "-crl_check",
        "-CRLfile",
        files["dir"] / "crl.pem",
        "-CAfile",
        files["root"],
        "-untrusted",
        files["issuer"],
        files[leaf],
    )
    assert (result.returncode == 0) is accepted, result.stdout + result.stderr
    if not accepted:
        assert "certificate revoked" in result.stdout + result.stderr


@pytest.mark.interop
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"entries": []},
        {"delta_base_crl_number": 41},
        {"freshest_crl_url": "http://pki.example.test/d.crl"},
        {"entries": [((1 << 159) - 1, NOW, 4)]},
    ],
    ids=["full", "empty", "delta", "freshest", "largest-20-octet-serial"],
)
def test_pkilint_finds_nothing(pki, tmp_path, extra):
    _, issuer = pki
    entries = extra.pop("entries", _entries(30))
    path = tmp_path / "crl.der"
    path.write_bytes(_make_crl(issuer, entries, **extra))
    result = _run(require_tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.interop
def test_pkilint_flags_serials_over_20_octets(pki, tmp_path):
    """A 160-bit serial with its top bit set takes 21 octets: encoded as is, but RFC 5280 §4.1.2.2 forbids it.

    The encoder still lists it (a CRL must be able to name any certificate issued); cryptography refuses to
    issue such a serial in the first place, so only a foreign or corrupt ledger row could bring one here.
    """
    _, issuer = pki
    path = tmp_path / "crl.der"
    path.write_bytes(_make_crl(issuer, [((1 << 160) - 1, NOW, 4)]))
    result = _run(require_tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", path)
    assert result.returncode == 1 and "certificate_serial_number_out_of_range" in result.stdout


def test_encode_revoked_rows_matches_the_entry_encoder() -> None:
    """The ledger fast path (hex serials, compact UTC text, reason names) gives byte-identical DER."""
    from ca.x509.crl import encode_revoked_certificates, encode_revoked_rows
    from ca.x509.reasons import REASON_CODES

    names = [None, *REASON_CODES]
    entries, rows = [], []
    for i, serial in enumerate([1, 0x7F, 0x80, 0xFF, 0x1234, (1 << 159) - 1, 1 << 158, 0x00AB]):
        when = datetime(2049 + (i % 3), 12, 31, 23, 59, i, tzinfo=UTC)
        name = names[i % len(names)]
        entries.append((serial, when, REASON_CODES.get(name) if name else None))
        text = f"{serial:x}"
        rows.append((text if len(text) % 2 == 0 else "0" + text, when.strftime("%Y%m%d%H%M%S"), name))
    encoded, count = encode_revoked_rows([rows[:3], rows[3:]])
    assert count == len(rows)
    assert bytes(encoded) == bytes(encode_revoked_certificates(entries))
    for bad in [("00", "20260101000000", None), ("0001", "20260101000000", None), ("01", "2026", None),
                ("01", "20260101000000", "certificateHold"), ("ab" * 21, "20260101000000", None)]:
        with pytest.raises(ValueError):
            encode_revoked_rows([[bad]])


def test_encode_revoked_rows_matches_the_entry_encoder_on_random_rows() -> None:
    """Random serial lengths (1 to 20 octets, high bit set or not), every reason, both time forms."""
    from ca.x509.crl import encode_revoked_certificates, encode_revoked_rows

    rng = random.Random(14)
    names = [None, *REASON_CODES]
    entries, rows = [], []
    for _ in range(3000):
        serial = rng.getrandbits(rng.randrange(1, 161)) or 1
        when = datetime(rng.choice([1990, 2025, 2049, 2050, 2100]), 1 + rng.randrange(12), 1 + rng.randrange(28),
                        rng.randrange(24), rng.randrange(60), rng.randrange(60), tzinfo=UTC)
        name = rng.choice(names)
        entries.append((serial, when, REASON_CODES.get(name) if name else None))
        text = f"{serial:x}"
        form = rng.choice(["%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S"])  # PostgreSQL's to_char, SQLite's stored text
        rows.append((text if len(text) % 2 == 0 else "0" + text, when.strftime(form), name))
    encoded, count = encode_revoked_rows([rows[i:i + 700] for i in range(0, len(rows), 700)])
    assert count == len(rows) and bytes(encoded) == bytes(encode_revoked_certificates(entries))
    for bad in [("zz", "20260101000000", None), ("Ab", "20260101000000", None), ("01zz", "20260101000000", None),
                ("abc", "20260101000000", None)]:
        with pytest.raises(ValueError):
            encode_revoked_rows([[bad]])


def test_crl_number_at_reads_the_number_in_place(pki, tmp_path: Path) -> None:
    """The publisher's in-place read (a few hundred bytes, os.pread) agrees with a full parse."""
    import os

    _, issuer = pki
    cases = {
        "empty": _make_crl(issuer, [], crl_number=7),
        "entries": _make_crl(issuer, _entries(5000), crl_number=(1 << 150) + 3),
        "delta": _make_crl(issuer, _entries(10), crl_number=12, delta_base_crl_number=11),
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.crl"
        path.write_bytes(data)
        reads: list[int] = []
        descriptor = os.open(path, os.O_RDONLY)
        try:
            def read_at(offset: int, size: int, descriptor: int = descriptor, reads: list[int] = reads) -> bytes:
                reads.append(size)
                return os.pread(descriptor, size, offset)

            assert crl_mod.crl_number_at(read_at) == crl_mod.crl_number_of(data) > 0, name
        finally:
            os.close(descriptor)
        assert sum(reads) < 400, (name, reads)
    for junk in [b"", b"\x30", b"\x30\x03\x02\x01\x01", b"not a crl at all", cases["entries"][:1000]]:
        assert crl_mod.crl_number_at(lambda offset, size, data=junk: data[offset:offset + size]) == 0
