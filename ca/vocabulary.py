"""The words of the ledger, each spelled once: statuses and roles as StrEnums.

They compare equal to the strings stored in the database (a StrEnum is a str), so rows, JSON and templates
keep their plain values while the code names each value instead of retyping it.
"""

from __future__ import annotations

from enum import StrEnum


class CertificateStatus(StrEnum):
    PENDING = "pending"  # intent recorded, not signed yet (DESIGN §4 step 2)
    ISSUED = "issued"
    REVOKED = "revoked"
    FAILED = "failed"
    EXPIRED = "expired"  # shown, never stored: issued and past notAfter


SIGNED_STATUSES = (CertificateStatus.ISSUED, CertificateStatus.REVOKED)


class IssuerStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"  # signs only its CRLs and OCSP responder certificates
    REMOVED = "removed"


class UserStatus(StrEnum):
    INVITED = "invited"
    UNCONFIRMED = "unconfirmed"
    PENDING = "pending"  # waits for a company administrator to accept the join
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    ISSUING = "issuing"
    ISSUED = "issued"
    FAILED = "failed"


class Role(StrEnum):
    """A person's role: in their company, or `operator` for a CA operator's portal account (no company)."""

    OPERATOR = "operator"
    FIRST_ADMIN = "first-admin"
    ADMIN = "admin"
    USER = "user"


ADMIN_ROLES = (Role.FIRST_ADMIN, Role.ADMIN)


class ActorKind(StrEnum):
    OPERATOR = "operator"
    USER = "user"
    SYSTEM = "system"
