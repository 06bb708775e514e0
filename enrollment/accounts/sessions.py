"""Logging in and out, and resuming a session on each request (ASVS 5.0 V6, V7).

A session is a random 256-bit token in the (signed) cookie and its SHA-256 in the ledger. A new token is
made at every login (no fixation, ASVS 7.2.4); logout, detachment and password changes end it server-side
(7.4.1), so an old cookie stops working at once. Idle and absolute timeouts come from the settings (7.3).
The person behind a session is re-read from the ledger on every request: a role or company change applies
to the very next click.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import NotAuthorizedError
from ca.ledger import Session, portal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import User
from ca.ledger.session_reads import SessionFacts, read_session
from ca.runtime import Runtime
from ca.settings import PortalSettings
from ca.vocabulary import ActorKind, CertificateStatus, Role, UserStatus
from enrollment.accounts.passwords import hash_password, needs_rehash, verify_password
from enrollment.accounts.views import LoginResult, Principal

security_log = logging.getLogger("portail.security")

LOGIN_REFUSED = "wrong e-mail address or password"
SESSION_ENDED = "your session has ended: please log in again"
TOUCH_EVERY = timedelta(seconds=60)
# Statuses that may hold a session: `pending` people wait for their company's approval but may log in.
LOGIN_STATUSES = ("active", "pending")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Person(Protocol):
    """What actor_for reads of a person: a ledger row (User) or the facts of a session read (PersonFacts)."""

    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def company_id(self) -> int | None: ...
    @property
    def full_name(self) -> str: ...
    @property
    def locale(self) -> str | None: ...


def actor_for(user: Person, source_ip: str | None) -> Actor:
    """The identity use cases see: company rights only for an active member of a company."""
    if user.role == Role.OPERATOR:
        return Actor(kind=ActorKind.OPERATOR, name=f"operator:{user.email}", user_id=user.id, source_ip=source_ip)
    if user.status == UserStatus.ACTIVE and user.company_id is not None:
        return Actor(kind=ActorKind.USER, name=user.email, user_id=user.id, company_id=user.company_id,
                     role=Role(user.role), source_ip=source_ip)
    return Actor(kind=ActorKind.USER, name=user.email, user_id=user.id, source_ip=source_ip)


class CompanyOf(Protocol):
    """What a Principal shows of the person's company: a ledger row (Company) or a session read's facts."""

    @property
    def eic(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def approval_policy(self) -> str: ...


def principal_for(session: Session, user: User, source_ip: str | None) -> Principal:
    company = store.get_company(session, user.company_id) if user.company_id else None
    return principal_of(user, company, source_ip)


def principal_of(user: Person, company: CompanyOf | None, source_ip: str | None) -> Principal:
    """The Principal of a person and their company as read in this request (row objects or read facts)."""
    actor = actor_for(user, source_ip)
    member = actor.company_id is not None
    return Principal(
        actor=actor, user_id=user.id, email=user.email, full_name=user.full_name, role=user.role,
        status=user.status, company_eic=company.eic if company and member else None,
        company_name=company.name if company and member else None,
        requested_company=company.eic if company and not member else None,
        approval_policy=company.approval_policy if company and member else None,
        locale=user.locale,
    )


def log_in(runtime: Runtime, *, email: str, password: str, source_ip: str | None) -> LoginResult:
    """One answer for an unknown address and a wrong password, after the same argon2 work (ASVS 6.3.8)."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        user = portal_store.find_user_by_email(session, (email or "").strip())
        valid = verify_password(user.password_hash if user else None, password or "")
        if not valid or user is None or user.status not in LOGIN_STATUSES + (UserStatus.UNCONFIRMED,):
            security_log.warning("login refused for %r from %s", (email or "")[:254], source_ip)
            raise NotAuthorizedError(LOGIN_REFUSED)
        if user.status == UserStatus.UNCONFIRMED:
            raise NotAuthorizedError("confirm your e-mail address first: follow the link we sent you")
        if user.password_hash and needs_rehash(user.password_hash):
            portal_store.mark_user(session, user, password_hash=hash_password(password))
        token = secrets.token_urlsafe(32)
        portal_store.add_portal_session(session, id_sha256=token_digest(token), user_id=user.id, at=now,
                                        source_ip=source_ip)
        principal = principal_for(session, user, source_ip)
        append_event(session, at=now, actor=principal.actor.name, action="user.logged_in", object_type="user",
                     object_id=user.email, company_id=principal.actor.company_id, source_ip=source_ip)
        return LoginResult(session_token=token, principal=principal)


def resume_fresh_session(runtime: Runtime, token: str, *, source_ip: str | None) -> Principal | None:
    """The Principal of a live session with nothing to write (touched less than TOUCH_EVERY ago, within its
    idle and absolute limits, its person allowed to log in), from one statement in a read-only transaction
    with no write lock (ca.ledger.session_reads); None for anything else — a session to touch, to end or to
    refuse — which only resume_session's writing pass decides. Almost every request is the first case."""
    now = runtime.clock.now()
    facts = read_session(runtime.engine, token_digest(token)) if token else None
    return fresh_principal(facts, now, runtime.settings.portal, source_ip)


def fresh_principal(facts: SessionFacts | None, now: datetime, settings: PortalSettings,
                    source_ip: str | None) -> Principal | None:
    """The rule of resume_fresh_session over facts read at `now` (also read in the transaction that records
    a batch of uploads, enrollment.requests.request_batcher): live, touched less than TOUCH_EVERY ago, within
    the idle and absolute limits (ASVS 5.0 V7.3), its person allowed to log in."""
    if (facts is not None and facts.ended_at is None and now - facts.last_seen_at < TOUCH_EVERY
            and facts.user.status in LOGIN_STATUSES
            and now - facts.created_at <= timedelta(hours=settings.session_absolute_hours)
            and now - facts.last_seen_at <= timedelta(minutes=settings.session_idle_minutes)):
        return principal_of(facts.user, facts.company, source_ip)
    return None


def resume_session(runtime: Runtime, token: str, *, source_ip: str | None) -> Principal:
    """The Principal of a live session, or NotAuthorizedError (and the session ends) when it timed out."""
    fresh = resume_fresh_session(runtime, token, source_ip=source_ip)
    if fresh is not None:
        return fresh
    # The writing pass re-reads the session under the write lock: to touch it, end it, or refuse it.
    settings = runtime.settings.portal
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        record = portal_store.get_portal_session(session, token_digest(token)) if token else None
        if record is None or record.ended_at is not None:
            raise NotAuthorizedError(SESSION_ENDED)
        user = portal_store.get_user(session, record.user_id)
        idle = now - record.last_seen_at > timedelta(minutes=settings.session_idle_minutes)
        too_old = now - record.created_at > timedelta(hours=settings.session_absolute_hours)
        if idle or too_old or user.status not in LOGIN_STATUSES:
            portal_store.end_portal_session(session, record, now)
            raise NotAuthorizedError(SESSION_ENDED)
        if now - record.last_seen_at >= TOUCH_EVERY:
            portal_store.touch_portal_session(session, record, now)
        return principal_for(session, user, source_ip)


def log_out(runtime: Runtime, token: str, *, source_ip: str | None) -> None:
    """End the session server-side; logging out twice (or with a dead token) is not an error."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        record = portal_store.get_portal_session(session, token_digest(token)) if token else None
        if record is None or record.ended_at is not None:
            return
        portal_store.end_portal_session(session, record, now)
        user = portal_store.get_user(session, record.user_id)
        append_event(session, at=now, actor=actor_for(user, source_ip).name, action="user.logged_out",
                     object_type="user", object_id=user.email, company_id=actor_for(user, None).company_id,
                     source_ip=source_ip)


def authenticate_certificate(runtime: Runtime, *, certificate: bytes, source_ip: str | None) -> Principal:
    """API clients may present their `browser` certificate instead of a session (issue 4 §JSON API).

    The TLS terminator checked the chain; here the exact certificate must be in the ledger, issued (not
    revoked, the ledger is read on every call), valid now, and its holder still an active member of the
    certificate's company.
    """
    refused = NotAuthorizedError("this client certificate does not give access to the portal")
    try:
        parsed = (x509.load_pem_x509_certificate(certificate) if b"-----BEGIN" in certificate
                  else x509.load_der_x509_certificate(certificate))
    except ValueError:
        raise refused from None
    certificate_der = parsed.public_bytes(Encoding.DER)
    now = runtime.clock.now()
    with runtime.sessionmaker() as session:
        record = portal_store.find_certificate_by_der_hash(session, hashlib.sha256(certificate_der).hexdigest())
        if (record is None or record.der != certificate_der or record.status != CertificateStatus.ISSUED
                or record.profile != "browser" or not record.not_before <= now <= record.not_after
                or record.user_id is None):
            raise refused
        user = portal_store.get_user(session, record.user_id)
        if user.status != UserStatus.ACTIVE or user.company_id != record.company_id:
            raise refused
        return principal_for(session, user, source_ip)


def refuse_forwarded_certificate(runtime: Runtime, *, reason: str, source_ip: str | None) -> None:
    """A certificate header the portal may not believe (not from a trusted proxy, or not verified by it):
    audited, then refused, so that a forged header is seen in the trail (issue 13 finding 1)."""
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor="anonymous", action="portal.certificate_refused",
                     object_type="certificate", object_id="forwarded", details={"reason": reason},
                     source_ip=source_ip)
    security_log.warning("forwarded client certificate refused from %s: %s", source_ip, reason)
    raise NotAuthorizedError(f"client certificate refused: {reason}")
