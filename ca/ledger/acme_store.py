"""Store functions of the ACME server (RFC 8555): take the session first, never commit (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ca.errors import ConflictError, NotFoundError
from ca.ledger import Session
from ca.ledger.acme_models import (
    AcmeAccount,
    AcmeAuthorization,
    AcmeChallenge,
    AcmeEabKey,
    AcmeNonce,
    AcmeOrder,
    CompanyDomain,
)
from ca.ledger.models import CertificateRecord


def add_company_domain(session: Session, *, company_id: int, domain: str, at: datetime) -> CompanyDomain:
    row = CompanyDomain(company_id=company_id, domain=domain, created_at=at)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise ConflictError(f"domain {domain} is already listed for this company") from None
    return row


def list_company_domains(session: Session, company_id: int) -> list[str]:
    query = select(CompanyDomain.domain).where(CompanyDomain.company_id == company_id).order_by(CompanyDomain.domain)
    return list(session.execute(query).scalars())


def add_eab_key(session: Session, *, kid: str, hmac_key: bytes, company_id: int, at: datetime,
                created_by: str) -> AcmeEabKey:
    row = AcmeEabKey(kid=kid, hmac_key=hmac_key, company_id=company_id, created_at=at, created_by=created_by)
    session.add(row)
    session.flush()
    return row


def find_eab_key(session: Session, kid: str) -> AcmeEabKey | None:
    return session.get(AcmeEabKey, kid)


def add_account(session: Session, account: AcmeAccount) -> AcmeAccount:
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        raise ConflictError("an account with this key already exists") from None
    return account


def find_account_by_thumbprint(session: Session, thumbprint: str) -> AcmeAccount | None:
    query = select(AcmeAccount).where(AcmeAccount.key_thumbprint == thumbprint)
    return session.execute(query).scalars().first()


def get_account(session: Session, account_id: int) -> AcmeAccount:
    row = session.get(AcmeAccount, account_id)
    if row is None:
        raise NotFoundError(f"no ACME account {account_id}")
    return row


def list_company_accounts(session: Session, company_id: int) -> list[AcmeAccount]:
    query = select(AcmeAccount).where(AcmeAccount.company_id == company_id).order_by(AcmeAccount.id)
    return list(session.execute(query).scalars())


def add_order(session: Session, order: AcmeOrder) -> AcmeOrder:
    session.add(order)
    session.flush()
    return order


def get_order(session: Session, order_id: int) -> AcmeOrder:
    row = session.get(AcmeOrder, order_id)
    if row is None:
        raise NotFoundError(f"no order {order_id}")
    return row


def add_authorization(session: Session, authorization: AcmeAuthorization) -> AcmeAuthorization:
    session.add(authorization)
    session.flush()
    return authorization


def get_authorization(session: Session, authorization_id: int) -> AcmeAuthorization:
    row = session.get(AcmeAuthorization, authorization_id)
    if row is None:
        raise NotFoundError(f"no authorization {authorization_id}")
    return row


def list_order_authorizations(session: Session, order_id: int) -> list[AcmeAuthorization]:
    query = select(AcmeAuthorization).where(AcmeAuthorization.order_id == order_id).order_by(AcmeAuthorization.id)
    return list(session.execute(query).scalars())


def add_challenge(session: Session, challenge: AcmeChallenge) -> AcmeChallenge:
    session.add(challenge)
    session.flush()
    return challenge


def get_challenge(session: Session, challenge_id: int) -> AcmeChallenge:
    row = session.get(AcmeChallenge, challenge_id)
    if row is None:
        raise NotFoundError(f"no challenge {challenge_id}")
    return row


def list_authorization_challenges(session: Session, authorization_id: int) -> list[AcmeChallenge]:
    query = select(AcmeChallenge).where(AcmeChallenge.authorization_id == authorization_id).order_by(AcmeChallenge.id)
    return list(session.execute(query).scalars())


def get_certificate_by_id(session: Session, certificate_id: int) -> CertificateRecord:
    row = session.get(CertificateRecord, certificate_id)
    if row is None:
        raise NotFoundError(f"no certificate {certificate_id}")
    return row


def add_nonce(session: Session, value: str, expires_at: datetime) -> None:
    session.add(AcmeNonce(value=value, expires_at=expires_at))
    session.flush()


def take_nonce(session: Session, value: str, now: datetime) -> bool:
    """Delete the nonce: True only for the one caller that deleted a live nonce (a replay finds none)."""
    result = session.execute(delete(AcmeNonce).where(AcmeNonce.value == value, AcmeNonce.expires_at > now))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def delete_expired_nonces(session: Session, now: datetime) -> None:
    session.execute(delete(AcmeNonce).where(AcmeNonce.expires_at <= now))


def find_account(session: Session, account_id: int) -> AcmeAccount | None:
    return session.get(AcmeAccount, account_id)


def list_account_order_ids(session: Session, account_id: int, limit: int = 1000) -> list[int]:
    query = (select(AcmeOrder.id).where(AcmeOrder.account_id == account_id).order_by(AcmeOrder.id.desc())
             .limit(limit))
    return list(session.execute(query).scalars())
