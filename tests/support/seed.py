"""Many issued certificate rows at once, for bulk-revocation tests and benchmarks (issue 14 §5): one Core
executemany per 10,000 rows instead of 100,000 issuances. The rows are what an issuance leaves in the ledger
(status issued, random serial, a browser profile); their DER is left out (no test of these reads it)."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime

from sqlalchemy import Table, insert

from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.serials import format_serial, random_serial_number

_CERTIFICATES: Table = CertificateRecord.__table__  # type: ignore[assignment]


def seed_issued(runtime: Runtime, *, count: int, issuer_id: int, company_id: int, user_id: int,
                not_before: datetime, not_after: datetime, chunk: int = 10_000) -> list[int]:
    """Insert `count` issued browser rows; returns their serial numbers (as integers)."""
    serials = [random_serial_number() for _ in range(count)]
    for start in range(0, count, chunk):
        rows = [{
            "issuer_id": issuer_id, "serial": format_serial(serial), "status": "issued", "profile": "browser",
            "subject": f"CN=Seeded {start + n}", "not_before": not_before, "not_after": not_after,
            "spki_sha256": hashlib.sha256(os.urandom(16)).hexdigest(), "user_id": user_id,
            "company_id": company_id, "created_at": not_before,
        } for n, serial in enumerate(serials[start:start + chunk])]
        with runtime.sessionmaker.begin() as session:
            session.connection().execute(insert(_CERTIFICATES), rows)
    return serials
