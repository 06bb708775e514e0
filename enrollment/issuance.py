"""Issuance exactly as DESIGN §4: validate, record intent, sign once, record result.

No certificate can reach a caller without its ledger row: the row is committed `pending` before the key
signs, and the certificate is returned only after the second commit stored its DER.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import BadCSRError, BadRequestError, ConflictError, NotAuthorizedError, PKIError
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.csr import parse_and_check_csr
from ca.x509.keycheck import spki_sha256
from ca.x509.lint import lint_certificate
from ca.x509.names import browser_subject
from ca.x509.serials import format_serial, random_serial_number
from ca.x509.signing import preview, sign_tbs
from ca.x509.templates import leaf_builder, load_profile, repository_urls

_SERIAL_ATTEMPTS = 5


class LintRefusal(PKIError):
    kind = "internal"


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str
    issuer: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuer, root

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)


def _check_actor_may_issue_for(actor: Actor, user_id: int, company_id: int | None) -> None:
    if actor.is_operator:
        return
    if actor.user_id == user_id:
        return
    if actor.is_company_admin and company_id is not None and company_id == actor.company_id:
        return
    raise NotAuthorizedError("you may not request a certificate for this user")


def issue_certificate(
    runtime: Runtime,
    actor: Actor,
    *,
    csr_data: bytes,
    user_email: str | None,
    profile_name: str = "browser",
    days: int | None = None,
    dns_names: tuple[str, ...] = (),
    issuer_name: str | None = None,
    request_id: int | None = None,
) -> IssuedCertificate:
    settings = runtime.settings
    now = runtime.clock.now()

    # 1. Validate everything first: CSR (proof of possession, key quality), profile, user, blocked key.
    profile = load_profile(profile_name, settings.profiles)
    csr = parse_and_check_csr(csr_data)
    public_key = csr.public_key()
    key_fingerprint = spki_sha256(public_key)
    days = profile.default_days if days is None else days
    if not 1 <= days <= profile.max_days:
        raise BadRequestError(f"validity must be 1 to {profile.max_days} days for profile {profile.name}")
    with runtime.sessionmaker() as session:
        user = store.get_user_by_email(session, user_email) if user_email else None
        company = store.get_company(session, user.company_id) if user and user.company_id else None
        if profile.name == "browser":
            if user is None or company is None:
                raise BadRequestError("a browser certificate needs a user who belongs to a company")
            if user.status != "active":
                raise BadRequestError(f"user {user.email} is not active")
        if user is not None:
            _check_actor_may_issue_for(actor, user.id, user.company_id)
        elif not actor.is_operator:
            raise NotAuthorizedError("only an operator may issue certificates without a user")
        if store.is_key_blocked(session, key_fingerprint):
            raise BadCSRError("this public key is blocked (reported compromised); generate a new key")
        record = store.get_issuer_by_name(session, issuer_name) if issuer_name else store.get_active_issuer(session)
        if record.status == "removed" or (record.status == "retired" and profile.name != "ocsp-responder"):
            # A retired issuer signs only its CRLs and OCSP responder certificates (issue 6 §1).
            raise BadRequestError(f"issuer {record.name} is {record.status}: it issues no new certificates")
    issuer = runtime.issuer_from_record(record)
    if profile.name == "browser":
        assert user is not None and company is not None
        subject = browser_subject(settings.ca.country, company.name, company.eic, user.full_name)
        emails: tuple[str, ...] = (user.email,)
    elif profile.name == "tls-server":
        if not dns_names:
            raise BadRequestError("a tls-server certificate needs at least one --dns name")
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, dns_names[0])])
        emails = ()
    else:
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{issuer.name} OCSP responder")])
        emails = ()
    not_after = min(now + timedelta(days=days), issuer.certificate.not_valid_after_utc)
    if not_after <= now:
        raise BadRequestError(f"issuer {issuer.name} has expired")
    urls = repository_urls(settings.repository.base_url, issuer.name)

    # 2. Transaction 1: the intent row with a fresh random serial (drawn again on a collision), committed.
    for _attempt in range(_SERIAL_ATTEMPTS):
        serial_number = random_serial_number()
        builder = leaf_builder(profile, subject, public_key, issuer.certificate, serial_number, now, not_after,
                               urls, emails=emails, dns_names=dns_names)
        tbs_preview = preview(builder, issuer.signer.key_type)
        if settings.ca.lint_before_sign:
            findings = lint_certificate(tbs_preview)
            if findings:
                raise LintRefusal("certificate refused by the linter, nothing signed: " + "; ".join(findings))
        try:
            with runtime.sessionmaker.begin() as session:
                row = store.add_pending_certificate(session, CertificateRecord(
                    issuer_id=issuer.id, serial=format_serial(serial_number), status="pending",
                    profile=profile.name, subject=subject.rfc4514_string(), not_before=now, not_after=not_after,
                    spki_sha256=key_fingerprint, user_id=user.id if user else None,
                    company_id=company.id if company else None, request_id=request_id, created_at=now,
                ))
                row_id = row.id
            break
        except ConflictError:
            continue
    else:
        raise ConflictError("could not draw a unique serial number; nothing was signed")

    # 3. Sign once: exactly the linted TBS bytes.
    certificate = sign_tbs(tbs_preview.tbs_certificate_bytes, issuer.signer)

    # 4. Transaction 2: store the DER and the audit event; only then may the certificate leave.
    der = certificate.public_bytes(Encoding.DER)
    with runtime.sessionmaker.begin() as session:
        store.mark_certificate_issued(session, row_id, der=der, sha256=hashlib.sha256(der).hexdigest())
        append_event(
            session, at=now, actor=actor.name, action="certificate.issued", object_type="certificate",
            object_id=format_serial(serial_number), company_id=company.id if company else None,
            details={"issuer": issuer.name, "profile": profile.name, "user": user.email if user else None,
                     "subject": subject.rfc4514_string()},
            source_ip=actor.source_ip,
        )
    return IssuedCertificate(serial=format_serial(serial_number), issuer=issuer.name, certificate=certificate,
                             chain=(issuer.certificate, issuer.root))
