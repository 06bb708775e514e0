"""Revoking certificates (RFC 5280 §5.3.1 reasons; BR §4.9.1.1 deadlines are met by publishing at once).

keyCompromise blocks the key's SPKI for future CSRs and revokes every other live certificate of that key.
After the commit, the OCSP answers of the revoked serials are re-signed so responders serve them within a
second; the CRL is marked dirty and republished by the repository's scheduler (debounced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ca.actor import Actor
from ca.errors import BadRequestError, NotFoundError
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord
from ca.runtime import Runtime
from ca.x509.serials import format_serial, parse_serial
from enrollment.certificates import get_visible_certificate, show_certificate
from enrollment.views import CertificateView
from revocation.reasons import check_reason


def revoke_in_session(session: object, runtime: Runtime, actor: Actor, record: CertificateRecord, reason: str,
                      cause: str | None = None) -> None:
    """Revoke one row inside the caller's transaction: status, dirty CRL and audit event together.
    After the commit, call `publish_revocations` with the (issuer_id, serial) pairs."""
    now = runtime.clock.now()
    store.mark_certificate_revoked(session, record, at=now, reason=reason)  # type: ignore[arg-type]
    store.mark_crl_dirty(session, record.issuer_id)  # type: ignore[arg-type]
    details = {"reason": reason, "issuer_id": record.issuer_id}
    if cause:
        details["cause"] = cause
    append_event(session, at=now, actor=actor.name, action="certificate.revoked",  # type: ignore[arg-type]
                 object_type="certificate", object_id=record.serial, company_id=record.company_id,
                 details=details, source_ip=actor.source_ip)


def revoke_certificate(
    runtime: Runtime, actor: Actor, *, serial: str, reason: str, issuer_name: str | None = None
) -> CertificateView:
    normalized = format_serial(parse_serial(serial))
    now = runtime.clock.now()
    revoked: list[tuple[int, str]] = []
    with runtime.sessionmaker.begin() as session:
        issuer_id = store.get_issuer_by_name(session, issuer_name).id if issuer_name else None
        record = get_visible_certificate(session, actor, normalized, issuer_id=issuer_id)
        reason = check_reason(actor, reason)
        if record.status in ("pending", "failed"):
            raise BadRequestError(f"certificate {normalized} was never issued (status {record.status})")
        revoke_in_session(session, runtime, actor, record, reason)
        revoked.append((record.issuer_id, record.serial))
        if reason == "keyCompromise":
            store.add_blocked_key(session, spki_sha256=record.spki_sha256,
                                  reason=f"keyCompromise reported for {normalized}", at=now)
            for other in store.list_live_certificates_with_key(session, record.spki_sha256, now):
                revoke_in_session(session, runtime, actor, other, "keyCompromise", cause=f"same key as {normalized}")
                revoked.append((other.issuer_id, other.serial))
    publish_revocations(runtime, revoked)
    return show_certificate(runtime, actor, normalized)


def publish_revocations(runtime: Runtime, revoked: list[tuple[int, str]]) -> None:
    """After the commit, best effort: re-sign OCSP answers now; the responder's refresh catches up a failure."""
    if not revoked:
        return
    try:
        from revocation.ocsp import resign_serials

        resign_serials(runtime, revoked)
    except Exception:  # noqa: BLE001  (the revocation is committed; never report it as failed)
        pass


@dataclass
class UnusedReport:
    days: int
    candidates: list[CertificateView] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    dry_run: bool = False


def find_unused_certificates(
    runtime: Runtime, actor: Actor, *, days: int, company_eic: str | None = None
) -> list[CertificateView]:
    """Live browser certificates unused for `days` days (never used: issued more than `days` days ago)."""
    if days < 1:
        raise BadRequestError("--days must be at least 1")
    now = runtime.clock.now()
    from enrollment.certificates import certificate_view

    with runtime.sessionmaker() as session:
        company_id = store.get_company_by_eic(session, company_eic.strip().upper()).id if company_eic else None
        if not actor.is_operator:
            if not actor.is_company_admin:
                raise BadRequestError("only administrators may look for unused certificates")
            if company_id is not None and company_id != actor.company_id:
                raise NotFoundError(f"no company with EIC {company_eic}")
            company_id = actor.company_id
        records = store.list_unused_certificates(session, cutoff=now - timedelta(days=days), now=now,
                                                 company_id=company_id)
        issuers = {r.id: r.name for r in store.list_issuers(session)}
        companies = {c.id: c.eic for c in store.list_companies(session)}
        users = {u.id: u.email for u in store.list_users(session)}
        return [certificate_view(r, issuer=issuers[r.issuer_id], user=users.get(r.user_id),
                                 company=companies.get(r.company_id), now=now) for r in records]


def revoke_unused_certificates(
    runtime: Runtime, actor: Actor, *, days: int, company_eic: str | None = None, dry_run: bool = False,
    progress: Callable[[CertificateView], None] | None = None,
) -> UnusedReport:
    """Revoke (cessationOfOperation) each unused certificate, one transaction each, so a stop loses nothing."""
    report = UnusedReport(days=days, dry_run=dry_run)
    report.candidates = find_unused_certificates(runtime, actor, days=days, company_eic=company_eic)
    for view in report.candidates:
        if not dry_run:
            revoke_certificate(runtime, actor, serial=view.serial, reason="cessationOfOperation",
                               issuer_name=view.issuer)
            report.revoked.append(view.serial)
        if progress is not None:
            progress(view)
    return report
