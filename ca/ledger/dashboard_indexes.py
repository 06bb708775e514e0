"""Indexes behind the dashboards' counts (issue 15 item 3; migration 0016 creates them).

Each count is a range of one index, answered by an index-only scan (PostgreSQL; SQLite's covering index):
live and expiring certificates are (status, not_after), optionally within a company; recent revocations are
a small partial index of revoked rows by date; pending requests are (status, company_id). Without them the
operator's counts read the whole certificates table (a sequential scan of 10^6 rows).
"""

from __future__ import annotations

from sqlalchemy import Index, text

from ca.ledger.models import CertificateRecord, CertificateRequest

REVOKED = text("status = 'revoked'")

DASHBOARD_INDEXES = (
    Index("ix_certificates_status_not_after", CertificateRecord.status, CertificateRecord.not_after),
    Index("ix_certificates_company_status_not_after", CertificateRecord.company_id, CertificateRecord.status,
          CertificateRecord.not_after),
    Index("ix_certificates_revoked_at", CertificateRecord.revoked_at, CertificateRecord.company_id,
          postgresql_where=REVOKED, sqlite_where=REVOKED),
    Index("ix_certificate_requests_status_company", CertificateRequest.status, CertificateRequest.company_id),
)
