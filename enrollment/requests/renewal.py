"""Renewal of a live browser certificate by its holder (issue 11): the same ways to get a key as a first
request (a CSR, or a key generated here into a PKCS#12), producing a successor for the same person and
profile. The predecessor was approved when it was issued, so the successor needs no new approval whatever
the company's policy: its request is recorded `approved` (policy `renewal`) and issued at once.

The ledger links successor → predecessor (`certificates.predecessor_id`); the predecessor stays valid
until the successor's first front-office access or the grace deadline (ca.supersession). Every renewal is
audited (`certificate.renewed`, next to the request and issuance events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ca.actor import Actor
from ca.certificates import get_visible_certificate
from ca.errors import BadRequestError, ConflictError, NotAuthorizedError
from ca.issuance import ForRequest, IssuedCertificate, issue_certificate
from ca.ledger import Session, portal_store, renewal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord, Company, User
from ca.runtime import Runtime
from ca.vocabulary import CertificateStatus, RequestStatus, UserStatus
from ca.x509.csr import checked_csr
from enrollment.requests.approval import member_of_company
from enrollment.requests.keygen import _deliver, check_choices
from enrollment.requests.views import Download

RENEWAL_POLICY = "renewal"


@dataclass(frozen=True)
class Renewable:
    """What a renewal needs, read and checked in one transaction."""

    predecessor_id: int
    serial: str
    user_email: str
    full_name: str
    company_id: int
    company_name: str
    not_after: datetime


@dataclass(frozen=True)
class Renewal:
    predecessor: str
    successor: str
    pem: bytes | None = None  # the successor (from a CSR)
    download: Download | None = None  # the PKCS#12 of a key generated here


def _holder(session: Session, actor: Actor, record: CertificateRecord) -> tuple[User, Company]:
    """The holder renews their own certificate; an operator (`pkictl cert renew`) renews for the holder."""
    if not actor.is_operator:
        user, company = member_of_company(session, actor)
        if record.user_id != user.id:
            raise NotAuthorizedError("only the holder renews a certificate: the holder logs in and clicks Renew")
        return user, company
    if record.user_id is None or record.company_id is None:
        raise BadRequestError(f"certificate {record.serial} has no holder in a company: issue a new one instead")
    user = portal_store.get_user(session, record.user_id)
    if user.status != UserStatus.ACTIVE or user.company_id is None:
        raise BadRequestError(f"{user.email} is not an active member of a company")
    return user, store.get_company(session, user.company_id)


def _check_renewable(session: Session, runtime: Runtime, actor: Actor, serial: str
                     ) -> tuple[CertificateRecord, User, Company]:
    record = get_visible_certificate(session, actor, serial, signed=True)
    user, company = _holder(session, actor, record)
    if record.company_id != company.id:
        raise BadRequestError(f"certificate {record.serial} was issued for a company you no longer belong to; "
                              "request a new certificate")
    now = runtime.clock.now()
    if record.status != CertificateStatus.ISSUED or record.not_after < now:
        state = "expired" if record.status == CertificateStatus.ISSUED else record.status
        raise BadRequestError(f"certificate {record.serial} is {state}: only a live certificate is renewed; "
                              "request a new one")
    if record.profile != "browser":
        raise BadRequestError(f"certificate {record.serial} is a {record.profile} certificate: only browser "
                              "certificates are renewed here")
    successor = renewal_store.find_live_successor(session, record.id, now)
    if successor is not None:
        raise ConflictError(f"certificate {record.serial} was already renewed as {successor.serial}: renew that "
                            "one, or revoke it first")
    return record, user, company


def check_renewable(runtime: Runtime, actor: Actor, *, serial: str) -> Renewable:
    """The renewal page's check: refuses at once what the renewal would refuse."""
    with runtime.sessionmaker() as session:
        record, user, company = _check_renewable(session, runtime, actor, serial)
        return Renewable(predecessor_id=record.id, serial=record.serial, user_email=user.email,
                         full_name=user.full_name, company_id=company.id, company_name=company.name,
                         not_after=record.not_after)


def _audit_renewal(runtime: Runtime, actor: Actor, renewable: Renewable, successor: str, kind: str) -> None:
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor=actor.name, action="certificate.renewed",
                     object_type="certificate", object_id=renewable.serial, company_id=renewable.company_id,
                     details={"successor": successor, "kind": kind}, source_ip=actor.source_ip)


def renew_with_csr(runtime: Runtime, actor: Actor, *, serial: str, csr_data: bytes) -> Renewal:
    """A successor from the holder's CSR: who may renew is checked first (a refusal says nothing about the
    CSR), then the CSR, before anything is recorded."""
    renewable = check_renewable(runtime, actor, serial=serial)
    csr = checked_csr(csr_data)
    issued: IssuedCertificate = issue_certificate(
        runtime, actor, csr_data=csr, user_email=renewable.user_email, profile_name="browser",
        request=ForRequest(company_id=renewable.company_id, policy=RENEWAL_POLICY,
                           predecessor_id=renewable.predecessor_id))
    _audit_renewal(runtime, actor, renewable, issued.serial, "csr")
    return Renewal(predecessor=renewable.serial, successor=issued.serial, pem=issued.pem)


def renew_with_generated_key(runtime: Runtime, actor: Actor, *, serial: str, password: str,
                             encryption: str = "modern", key_type: str = "ec-p256") -> Renewal:
    """A successor with a key generated here, delivered once in a PKCS#12 (enrollment.requests.keygen)."""
    if actor.is_operator:
        raise NotAuthorizedError("a key is generated for its holder only: the holder renews in the portal")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        record, user, company = _check_renewable(session, runtime, actor, serial)
        password = check_choices(password=password, encryption=encryption, key_type=key_type)
        renewable = Renewable(predecessor_id=record.id, serial=record.serial, user_email=user.email,
                              full_name=user.full_name, company_id=company.id, company_name=company.name,
                              not_after=record.not_after)
        request = portal_store.add_request(session, user_id=user.id, company_id=company.id, profile="browser",
                                           csr_der=None, status=RequestStatus.ISSUING, at=now)
        append_event(session, at=now, actor=actor.name, action="request.created", object_type="request",
                     object_id=str(request.id), company_id=company.id,
                     details={"kind": "keygen", "policy": RENEWAL_POLICY, "renews": record.serial},
                     source_ip=actor.source_ip)
        request_id = request.id
    download = _deliver(runtime, actor, request_id=request_id, password=password, encryption=encryption,
                        key_type=key_type, email=renewable.user_email, full_name=renewable.full_name,
                        company_name=renewable.company_name, predecessor_id=renewable.predecessor_id)
    with runtime.sessionmaker() as session:
        successor = renewal_store.find_live_successor(session, renewable.predecessor_id, runtime.clock.now())
        assert successor is not None  # just issued
        successor_serial = successor.serial
    _audit_renewal(runtime, actor, renewable, successor_serial, "keygen")
    return Renewal(predecessor=renewable.serial, successor=successor_serial, download=download)
