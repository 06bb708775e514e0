"""Plain views of API clients and of the principal a bearer token stands for (no ORM object leaves a
transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ca.actor import Actor
from ca.clock import iso_or_none
from ca.ledger.api_client_models import ApiClient

TLS_CLIENT_AUTH = "tls_client_auth"  # RFC 8705 §2.1
CLIENT_SECRET = "client_secret_basic"  # RFC 6749 §2.3.1 (client_secret_post accepted as well)


@dataclass(frozen=True)
class ApiClientView:
    client_id: str
    name: str
    company: str
    company_id: int
    scopes: tuple[str, ...]
    auth_method: str
    tls_subject_dn: str | None
    tls_san_dns: str | None
    tls_cert_sha256: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    secret_hash: str | None = None  # never shown; checked by enrollment.api_clients.credentials

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "name": self.name, "company": self.company,
                "scopes": list(self.scopes), "token_endpoint_auth_method": self.auth_method,
                "tls_client_auth_subject_dn": self.tls_subject_dn, "tls_client_auth_san_dns": self.tls_san_dns,
                "tls_client_auth_sha256": self.tls_cert_sha256, "created_at": iso_or_none(self.created_at),
                "created_by": self.created_by, "revoked_at": iso_or_none(self.revoked_at)}


def client_view(row: ApiClient, company_eic: str) -> ApiClientView:
    return ApiClientView(client_id=row.client_id, name=row.name, company=company_eic, company_id=row.company_id,
                         scopes=tuple(row.scopes.split()), auth_method=row.auth_method,
                         tls_subject_dn=row.tls_subject_dn, tls_san_dns=row.tls_san_dns,
                         tls_cert_sha256=row.tls_cert_sha256, created_at=row.created_at,
                         created_by=row.created_by, revoked_at=row.revoked_at, secret_hash=row.secret_hash)


@dataclass(frozen=True)
class Registration:
    """What registering returns: the client, and its secret, shown this once and never again."""

    client: ApiClientView
    client_secret: str | None


@dataclass(frozen=True)
class ClientPrincipal:
    """The API client a valid bearer token stands for, re-read from the ledger on every call.

    It acts in its company like an administrator (company scope as for people), and only within the
    token's scopes, which the API checks per route before the use case runs.
    """

    actor: Actor
    client: ApiClientView
    company_name: str
    scopes: tuple[str, ...]
    jti: str
    bound_to: str | None  # x5t#S256 of the certificate the token is bound to (RFC 8705 §3)

    is_operator = False
    is_first_admin = False
    may_request = False

    @property
    def is_admin(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"client_id": self.client.client_id, "name": self.client.name, "role": "api-client",
                "company": self.client.company, "company_name": self.company_name, "scopes": list(self.scopes),
                "certificate_bound": self.bound_to is not None}
