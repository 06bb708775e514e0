"""Bulk revocation of unused certificates (issue 14 §5) at a small scale, on SQLite and PostgreSQL: every
row revoked with its reason, one chained audit event per certificate (the chain verifies), the stored OCSP
answers gone and a running responder answering `revoked` from the change feed, the CRL published once
with every entry, and a row used or revoked meanwhile left alone."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509 import ocsp
from sqlalchemy import text

from ca.audit_trail import verify_audit_trail
from ca.bulk_revoke import revoke_many
from ca.revoke import revoke_certificate
from revocation.crl import crl_path, publish_crls, publish_due_crls
from revocation.ocsp import OCSPService, refresh_ocsp
from revocation.unused import revoke_unused_rows, unused_row_ids
from tests.conftest import EIC
from tests.revocation.helpers import audit_events, cert_id, ocsp_request, seed_alice_rows

COUNT = 500


def _status(service: OCSPService, issuer: x509.Certificate, serial: int) -> ocsp.OCSPCertStatus:
    answer = ocsp.load_der_ocsp_response(service.respond(body=ocsp_request(cert_id(issuer, serial))).der)
    return answer.certificate_status


def test_unused_certificates_are_revoked_in_batches_with_every_consequence(runtime, operator, clock,
                                                                           session_pki):
    serials = seed_alice_rows(runtime, clock.now(), COUNT, age_days=200)
    publish_crls(runtime, operator)
    assert refresh_ocsp(runtime, operator) >= 2 * COUNT  # stored answers (good) for every seeded row
    service = OCSPService(runtime, poll_seconds=0)
    sample = serials[:: COUNT // 20]
    assert {_status(service, session_pki.issuer, s) for s in sample} == {ocsp.OCSPCertStatus.GOOD}

    rows = unused_row_ids(runtime, operator, days=90, company_eic=EIC)
    assert len(rows) == COUNT
    # One of them is revoked by hand meanwhile: the bulk revocation leaves it (and its reason) alone.
    revoke_certificate(runtime, operator, serial=rows[0][1], reason="superseded")
    events_before = len(audit_events(runtime, "certificate.revoked"))
    batches: list[int] = []
    revoked = revoke_many(runtime, operator, [row_id for row_id, _ in rows], reason="cessationOfOperation",
                          batch_size=128, progress=batches.append)
    assert batches == [128, 128, 128, 116]
    assert len(revoked) == COUNT - 1 and rows[0][1] not in {r.serial for r in revoked}

    with runtime.sessionmaker() as session:
        reasons = dict(session.execute(text("SELECT revocation_reason, count(*) FROM certificates "
                                            "WHERE status = 'revoked' GROUP BY revocation_reason")).all())
        stored = session.execute(text("SELECT count(*) FROM ocsp_responses o JOIN certificates c ON "
                                      "c.serial = o.serial AND c.issuer_id = o.issuer_id "
                                      "WHERE c.revocation_reason = 'cessationOfOperation'")).scalar()
        dirty = set(session.execute(text("SELECT kind FROM crl_state WHERE dirty")).scalars())
    assert reasons == {"cessationOfOperation": COUNT - 1, "superseded": 1}
    assert stored == 0 and dirty == {"full", "delta"}
    events = audit_events(runtime, "certificate.revoked")[events_before:]
    assert sorted(e.object_id for e in events) == sorted(r.serial for r in revoked)
    assert all(e.actor == operator.name and '"reason":"cessationOfOperation"' in e.details for e in events)
    report = verify_audit_trail(runtime, operator)
    assert report.problems == [] and report.events >= len(events)

    # The running responder drops its remembered `good` answers from the change feed.
    assert {_status(service, session_pki.issuer, s) for s in sample[1:]} == {ocsp.OCSPCertStatus.REVOKED}

    # The CRL is published once for the whole batch run, with every entry; the next pass publishes nothing.
    published = publish_due_crls(runtime, operator)
    assert [(p.kind, p.entries) for p in published] == [("full", COUNT), ("delta", COUNT)]
    assert publish_due_crls(runtime, operator) == []
    crl = x509.load_der_x509_crl(crl_path(runtime.settings.repository.crl_dir, session_pki.issuer_name,
                                          "full").read_bytes())
    assert {entry.serial_number for entry in crl} == set(serials)

    # Running again revokes nothing.
    assert revoke_unused_rows(runtime, operator, unused_row_ids(runtime, operator, days=90)) == []
