"""The CRL entries the ledger stores with each revocation (issue 14 item 4), on SQLite and PostgreSQL:
a revocation (one or in bulk) writes its row's entry; the full CRL read from the stored entries is the CRL
the columns give, entry for entry, including the rows that have no stored entry (revoked before migration
0021 or written by another tool); the encoder of one entry is the encoder of a whole CRL; migration 0021
fills the entries of rows already revoked."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from cryptography import x509
from sqlalchemy import select, text, update

from ca.bulk_revoke import revoke_many
from ca.ledger import crl_entries, store
from ca.ledger.database import _alembic_config, make_engine
from ca.ledger.models import CertificateRecord
from ca.revoke import revoke_certificate
from ca.x509.crl import encode_revoked_certificates, encode_revoked_entry, encode_revoked_rows
from ca.x509.reasons import REASON_CODES
from ca.x509.serials import format_serial
from revocation.crl import crl_path, publish_crls
from tests.revocation.helpers import seed_alice_rows

REASONS = [name for name in REASON_CODES if name != "certificateHold"]


def _entries(data: bytes | bytearray) -> list[bytes]:
    """The entries of a revokedCertificates body, each a SEQUENCE with a short-form length (< 128 octets)."""
    out, offset = [], 0
    while offset < len(data):
        assert data[offset] == 0x30 and data[offset + 1] < 0x80
        end = offset + 2 + data[offset + 1]
        out.append(bytes(data[offset:end]))
        offset = end
    return out


def _issuer_id(runtime) -> int:
    with runtime.sessionmaker() as session:
        return store.get_active_issuer(session).id


def _row_ids(runtime, serials: list[int]) -> list[int]:
    with runtime.sessionmaker() as session:
        wanted = {format_serial(serial) for serial in serials}
        return [row.id for row in session.execute(select(CertificateRecord.id, CertificateRecord.serial))
                if row.serial in wanted]


def test_each_revocation_stores_the_entry_the_crl_lists(runtime, operator, clock, session_pki):
    serials = seed_alice_rows(runtime, clock.now(), 40, age_days=20)
    revoke_certificate(runtime, operator, serial=format_serial(serials[0]), reason="keyCompromise")
    revoke_many(runtime, operator, _row_ids(runtime, serials[1:21]), reason="cessationOfOperation")
    with runtime.sessionmaker() as session:
        rows = session.execute(select(CertificateRecord).where(CertificateRecord.status == "revoked")).scalars()
        stored = {row.serial: row for row in rows}
    assert len(stored) == 21
    for row in stored.values():
        assert row.crl_entry == encode_revoked_entry(row.serial, row.revoked_at, row.revocation_reason)
    with runtime.sessionmaker() as session:  # an issued row has none
        issued = session.execute(select(CertificateRecord.crl_entry).where(
            CertificateRecord.serial == format_serial(serials[30]))).scalar_one()
    assert issued is None

    published = publish_crls(runtime, operator)
    crl = x509.load_der_x509_crl(crl_path(runtime.settings.repository.crl_dir, published[0].issuer, "full")
                                 .read_bytes())
    assert crl.is_signature_valid(session_pki.issuer.public_key())
    listed = {entry.serial_number: entry for entry in crl}
    assert set(listed) == {int(serial, 16) for serial in stored}
    compromised = listed[serials[0]]
    assert compromised.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    assert compromised.revocation_date_utc == stored[format_serial(serials[0])].revoked_at.replace(microsecond=0)


def test_the_stored_entries_are_the_crl_the_columns_give_even_without_some(runtime, operator, clock):
    serials = seed_alice_rows(runtime, clock.now(), 120, age_days=20)
    rng = random.Random(5280)
    row_ids = _row_ids(runtime, serials)
    for start in range(0, 90, 15):  # six bulk revocations, each with its own reason and time
        clock.advance(timedelta(minutes=7))
        revoke_many(runtime, operator, row_ids[start:start + 15], reason=rng.choice(REASONS))
    issuer_id = _issuer_id(runtime)
    with runtime.sessionmaker.begin() as session:  # a third of them as if revoked before migration 0021
        session.execute(update(CertificateRecord).where(CertificateRecord.id.in_(row_ids[::3]))
                        .values(crl_entry=None))
    with runtime.sessionmaker() as session:
        expected, expected_count = encode_revoked_rows(store.iter_revoked_rows(session, issuer_id))
        for chunk in (7, 50_000):  # many keyset chunks, some with missing entries; then one chunk
            got, count = crl_entries.full_crl_entries(session, issuer_id, chunk=chunk)
            assert count == expected_count == 90
            assert sorted(_entries(got)) == sorted(_entries(expected))
            assert len(_entries(got)) == 90


def test_a_revoked_row_without_a_time_is_refused_not_left_out(runtime, operator, clock):
    serials = seed_alice_rows(runtime, clock.now(), 3, age_days=20)
    revoke_certificate(runtime, operator, serial=format_serial(serials[0]), reason="superseded")
    with runtime.sessionmaker.begin() as session:
        session.execute(update(CertificateRecord).where(CertificateRecord.serial == format_serial(serials[0]))
                        .values(crl_entry=None, revoked_at=None))
    with runtime.sessionmaker() as session, pytest.raises(ValueError, match="no revocation time"):
        crl_entries.full_crl_entries(session, _issuer_id(runtime))


def test_one_entry_is_encoded_as_the_whole_crl_encodes_it():
    rng = random.Random(14)
    codes = {name: code for name, code in REASON_CODES.items() if name != "certificateHold"}
    base = datetime(1990, 1, 1, tzinfo=UTC)
    for _ in range(3000):
        serial = rng.getrandbits(rng.choice((8, 63, 64, 159, 160))) or 1
        when = base + timedelta(seconds=rng.randrange(80 * 365 * 86400))  # UTCTime and GeneralizedTime
        name = rng.choice(list(codes))
        assert encode_revoked_entry(format_serial(serial), when, name) == \
            bytes(encode_revoked_certificates([(serial, when, codes[name])]))
    with pytest.raises(ValueError, match="timezone-aware"):
        encode_revoked_entry("01", datetime(2026, 1, 1), "superseded")  # noqa: DTZ001
    with pytest.raises(ValueError, match="certificateHold"):
        encode_revoked_entry("01", base, "certificateHold")


def test_migration_0021_fills_the_entries_of_rows_already_revoked(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    config = _alembic_config(engine)
    command.upgrade(config, "0020")
    at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO issuers (id, name, certificate_der, root_der, status, key_ref, installed_at) "
            "VALUES (1, 'i', x'00', x'00', 'active', 'k', '2026-01-01 00:00:00.000000')"))
        for n, (serial, status, reason) in enumerate([("8f01", "revoked", "keyCompromise"),
                                                      ("0102", "revoked", "unspecified"),
                                                      ("0a0b", "issued", None)]):
            connection.execute(text(
                "INSERT INTO certificates (id, issuer_id, serial, status, profile, subject, not_before, not_after,"
                " spki_sha256, revoked_at, revocation_reason, created_at) VALUES (:id, 1, :serial, :status,"
                " 'browser', 'CN=x', '2026-01-01 00:00:00.000000', '2027-01-01 00:00:00.000000', :spki, :at,"
                " :reason, '2026-01-01 00:00:00.000000')"),
                {"id": n + 1, "serial": serial, "status": status, "spki": f"{n:064x}",
                 "at": at.strftime("%Y-%m-%d %H:%M:%S.%f") if reason else None, "reason": reason})
    command.upgrade(config, "head")
    with engine.connect() as connection:
        entries = dict(connection.execute(text("SELECT serial, crl_entry FROM certificates")).all())
    engine.dispose()
    assert entries == {"8f01": encode_revoked_entry("8f01", at, "keyCompromise"),
                       "0102": encode_revoked_entry("0102", at, "unspecified"), "0a0b": None}
