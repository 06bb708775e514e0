"""Store functions of OAuth2 API clients and their access tokens: `session` first, never commit (DESIGN §3).

Lists take the company they are scoped to as an explicit argument; the use cases decide it from the Actor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.errors import NotFoundError
from ca.ledger.api_client_models import AccessTokenRecord, ApiClient


def add_api_client(session: Session, client: ApiClient) -> ApiClient:
    session.add(client)
    session.flush()
    return client


def find_api_client(session: Session, client_id: str) -> ApiClient | None:
    return session.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).first()


def get_api_client(session: Session, client_id: str, company_id: int | None) -> ApiClient:
    """The client, within the company when one is given (another company's client is "not found")."""
    client = find_api_client(session, client_id)
    if client is None or (company_id is not None and client.company_id != company_id):
        raise NotFoundError(f"no API client {client_id!r}")
    return client


def list_api_clients(session: Session, company_id: int | None) -> list[ApiClient]:
    query = select(ApiClient).order_by(ApiClient.created_at, ApiClient.id)
    if company_id is not None:
        query = query.where(ApiClient.company_id == company_id)
    return list(session.scalars(query))


def list_tls_clients(session: Session) -> list[ApiClient]:
    """Live clients that authenticate with a certificate (RFC 8705 §2): a handful per company."""
    return list(session.scalars(select(ApiClient).where(ApiClient.auth_method == "tls_client_auth",
                                                        ApiClient.revoked_at.is_(None))))


def add_access_token(session: Session, record: AccessTokenRecord) -> None:
    session.add(record)
    session.flush()


def get_access_token(session: Session, jti: str) -> AccessTokenRecord | None:
    return session.get(AccessTokenRecord, jti)


def mark_access_token_revoked(session: Session, jti: str, at: datetime) -> bool:
    """True when this call revoked it (a second revocation changes nothing, RFC 7009 §2.2)."""
    result = session.execute(update(AccessTokenRecord).where(AccessTokenRecord.jti == jti,
                                                             AccessTokenRecord.revoked_at.is_(None))
                             .values(revoked_at=at))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_client_tokens_revoked(session: Session, client_pk: int, at: datetime) -> int:
    result = session.execute(update(AccessTokenRecord).where(AccessTokenRecord.client_pk == client_pk,
                                                             AccessTokenRecord.revoked_at.is_(None))
                             .values(revoked_at=at))
    return int(result.rowcount)  # type: ignore[attr-defined]
