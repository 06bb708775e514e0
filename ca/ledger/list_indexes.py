"""Indexes behind every paginated list, sort and search (issue 15 item 2; migration 0012 creates them).

Each list is scoped (company, user) and ordered by (sort column, id): an index on (scope, sort column, id)
answers a page with one range scan whatever its depth (keyset pagination, ca/ledger/pagination.py).
"""

from __future__ import annotations

from sqlalchemy import Index, func

from ca.ledger.models import AuditEvent, CertificateRecord, CertificateRequest, User

LIST_INDEXES = (
    # Company certificates: newest first, by expiry, by serial, filtered by status; a holder's certificates.
    Index("ix_certificates_company_id", CertificateRecord.company_id, CertificateRecord.id),
    Index("ix_certificates_company_not_after", CertificateRecord.company_id, CertificateRecord.not_after,
          CertificateRecord.id),
    Index("ix_certificates_company_serial", CertificateRecord.company_id, CertificateRecord.serial,
          CertificateRecord.id),
    Index("ix_certificates_company_status_id", CertificateRecord.company_id, CertificateRecord.status,
          CertificateRecord.id),
    Index("ix_certificates_user_id", CertificateRecord.user_id, CertificateRecord.id),
    # A certificate by serial anywhere (operator search); the unique (issuer_id, serial) does not lead with it.
    Index("ix_certificates_serial", CertificateRecord.serial),
    # A person by e-mail in any case: every look-up compares lower(email).
    Index("ix_users_email_lower", func.lower(User.email)),
    Index("ix_users_company_id", User.company_id, User.id),
    Index("ix_certificate_requests_company_id", CertificateRequest.company_id, CertificateRequest.id),
    Index("ix_audit_events_company_id", AuditEvent.company_id, AuditEvent.id),
)
