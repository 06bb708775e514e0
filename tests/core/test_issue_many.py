"""`issue_many` (issue 14 §1): a batch shares one intent commit and one result commit, and every guarantee of
`issue_certificate` holds per certificate — each returned certificate's row is committed `issued` with its DER
and its chained event, one bad request fails alone, a serial collision draws again, values the template
cannot encode go through the builder — with the CSR checks and signatures in the caller's thread and in signing
processes (`ca.signing_processes`, ca.signing_pool)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text

from ca import issuance, signing_pool
from ca.audit_trail import verify_audit_trail
from ca.errors import BadCSRError, BadRequestError, NotFoundError
from ca.ledger.group_commit import committer_for
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from ca.x509 import serials
from tests.vectors.bad_csrs import good_csr

ALICE = "alice@example.com"


@pytest.fixture(params=[0, 2], ids=["in-thread", "signing-processes"])
def issuing(request: pytest.FixtureRequest, runtime: Runtime, environ: dict[str, str], clock) -> Iterator[Runtime]:
    """`runtime`, or a runtime over the same ledger whose issue_many uses two signing processes."""
    if not request.param:
        yield runtime
        return
    pooled = build_runtime(load_settings(None, {**environ, "PKI_CA__SIGNING_PROCESSES": str(request.param)}), clock)
    yield pooled
    signing_pool.release(pooled)
    pooled.close()


def _committed(database_url: str) -> dict[str, tuple[str, bytes | None]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT serial, status, der FROM certificates")).all()
            return {row[0]: (row[1], bytes(row[2]) if row[2] is not None else None) for row in rows}
    finally:
        engine.dispose()


def _issued_events(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT object_id FROM audit_events WHERE action = 'certificate.issued' ORDER BY id")).scalars())
    finally:
        engine.dispose()


def test_a_batch_shares_two_commits_and_each_bad_request_fails_alone(issuing, operator, database_url):
    good = [good_csr("ec-p256")[1] for _ in range(20)]
    requests = [issuance.IssueRequest(csr_data=csr, user_email=ALICE) for csr in good]
    requests.insert(3, issuance.IssueRequest(csr_data=b"not a csr", user_email=ALICE))
    requests.insert(7, issuance.IssueRequest(csr_data=good_csr("ec-p256")[1], user_email="nobody@example.com"))
    requests.insert(9, issuance.IssueRequest(csr_data=good_csr("ec-p256")[1], user_email=ALICE, days=100_000))
    requests.insert(11, issuance.IssueRequest(csr_data=good_csr("rsa-2048")[1], user_email=None,
                                              profile_name="tls-server", dns_names=("under_score.example.test",)))
    committer = committer_for(issuing.sessionmaker)
    batches_before = committer.batches
    before = set(_committed(database_url))

    results = issuance.issue_many(issuing, operator, requests)

    assert len(results) == len(requests)
    assert isinstance(results[3], BadCSRError)
    assert isinstance(results[7], NotFoundError) and "nobody@example.com" in str(results[7])
    assert isinstance(results[9], BadRequestError) and "validity" in str(results[9])
    issued = [r for r in results if isinstance(r, issuance.IssuedCertificate)]
    assert len(issued) == 21  # the 20 browser certificates and the builder-encoded tls-server one
    san = results[11].certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["under_score.example.test"]
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, issuance.IssuedCertificate) and request.profile_name == "browser":
            csr = x509.load_pem_x509_csr(request.csr_data)
            assert result.certificate.public_key() == csr.public_key()
            assert result.certificate.subject.rfc4514_string().startswith("CN=Alice Martin,")
    rows = _committed(database_url)
    assert {r.serial for r in issued} == set(rows) - before  # the refused requests left no row
    for result in issued:
        assert rows[result.serial] == ("issued", result.certificate.public_bytes(Encoding.DER))
    assert set(_issued_events(database_url)) >= {r.serial for r in issued}
    # The 20 template-encoded certificates: one intent and one result commit (the builder's one: two more).
    assert committer.batches - batches_before == 4
    assert verify_audit_trail(issuing, operator).ok


def test_a_serial_collision_in_a_batch_draws_every_serial_again(issuing, operator, database_url, monkeypatch):
    first = issuance.issue_certificate(issuing, operator, csr_data=good_csr("ec-p256")[1], user_email=ALICE)
    taken = int(first.serial, 16)
    draws = iter([taken])
    real = serials.random_serial_number
    monkeypatch.setattr(issuance, "random_serial_number", lambda: next(draws, None) or real())

    results = issuance.issue_many(issuing, operator, [
        issuance.IssueRequest(csr_data=good_csr("ec-p256")[1], user_email=ALICE) for _ in range(5)])

    assert all(isinstance(r, issuance.IssuedCertificate) for r in results)
    assert taken not in {r.certificate.serial_number for r in results}  # type: ignore[union-attr]
    rows = _committed(database_url)
    assert rows[first.serial] == ("issued", first.certificate.public_bytes(Encoding.DER))
    assert all(rows[r.serial][0] == "issued" for r in results)  # type: ignore[union-attr]
    assert not any(status == "pending" for status, _der in rows.values())
    assert verify_audit_trail(issuing, operator).ok
