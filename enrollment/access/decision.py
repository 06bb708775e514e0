"""Front-office access decisions (issue 5): who holds this client certificate, and may they come in?

`decide_from_ledger` answers from the ledger, never from a CRL, so a revocation takes effect within the
decision cache's lifetime (`frontoffice.decision_cache_ms`, at most one second; DESIGN §5). The memory of
one process — the decision cache, the refusal-audit throttle, the last-use throttle — belongs to the
application's `Gatekeeper` (enrollment.access.gatekeeper); this module holds the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from ca.ledger import Session, gate_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRecord, IssuerRecord
from ca.reasons import REASON_WORDS
from ca.runtime import Runtime
from ca.vocabulary import CertificateStatus, IssuerStatus, UserStatus
from ca.x509.serials import format_serial
from enrollment.access.views import AccessDecision, GrantedService, PerimeterPoint

GATE_ACTOR = "gate"
IssuerCertificates = Callable[[bytes], x509.Certificate]


def portal_url(runtime: Runtime) -> str:
    return runtime.settings.frontoffice.portal_url or runtime.settings.portal.base_url


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


# --- the decision --------------------------------------------------------------------------------------
def _refuse(runtime: Runtime, code: str, message: str, action: str, *, status: int = 403,
            **facts: Any) -> AccessDecision:
    return AccessDecision(allowed=False, status=status, code=code, message=message, action=action,
                          portal_url=portal_url(runtime), **facts)


def decide_from_ledger(runtime: Runtime, der: bytes, digest: str, service: str | None, point: str | None,
                       tls_error: str | None, issuer_certificate: IssuerCertificates) -> AccessDecision:
    """Decide from the ledger; `tls_error` is a verification failure reported by a trusted proxy.

    `service` None is the home page (any valid certificate); a `connection_point` must be in the perimeter
    the user's groups grant for `service`. `issuer_certificate` parses (and may remember) issuer DER.
    """
    portal = portal_url(runtime)
    asked: dict[str, Any] = {"service": service, "connection_point": point}
    if not der:
        return _refuse(runtime, "no_certificate", "Your browser did not present a client certificate.",
                       f"Install the certificate (.p12 file) you got from the portal in your browser, or request "
                       f"one at {portal}, then reload this page and choose it when asked.", **asked)
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return _refuse(runtime, "bad_certificate", "The client certificate could not be read.",
                       f"Use the certificate delivered by the portal; request a new one at {portal}.", **asked)
    with runtime.sessionmaker() as session:
        decision = _decide_in_ledger(runtime, session, certificate, digest, service, point, issuer_certificate)
    if tls_error and decision.allowed:
        # The ledger has nothing against it, yet the proxy could not verify it: never let it through.
        return _refuse(runtime, "certificate_not_trusted",
                       f"Your certificate could not be verified ({tls_error}).",
                       f"Request a new certificate at {portal}.", **_identity(decision), **asked)
    return decision


def _identity(decision: AccessDecision) -> dict[str, Any]:
    return {name: getattr(decision, name) for name in (
        "certificate_id", "serial", "issuer", "not_after", "user_id", "full_name", "email", "company_id",
        "company_name", "eic")}


def _find_issuer(session: Session, certificate: x509.Certificate,
                 issuer_certificate: IssuerCertificates) -> list[IssuerRecord]:
    """Issuers that may have signed it: AKI = the issuer's SKI (RFC 5280 §4.2.1.1), else the same name."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        aki = None
    name = certificate.issuer.public_bytes()
    found = []
    for record in gate_store.list_gate_issuers(session):
        issuer_cert = issuer_certificate(record.certificate_der)
        if issuer_cert.subject.public_bytes() != name:
            continue
        if aki is not None and _ski(issuer_cert) not in (None, aki):
            continue
        found.append(record)
    return found


def _ski(certificate: x509.Certificate) -> bytes | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def _ledger_row(session: Session, certificate: x509.Certificate, digest: str, issuer_certificate: IssuerCertificates
                ) -> tuple[IssuerRecord | None, CertificateRecord | None, bool]:
    """(issuer, row, issuer_known): the row only counts when its stored DER is exactly this certificate."""
    serial = format_serial(certificate.serial_number)
    issuers = _find_issuer(session, certificate, issuer_certificate)
    for record in issuers:
        row = store.get_certificate_status(session, record.id, serial)
        if row is not None and row.sha256 == digest:
            return record, row, True
    return (issuers[0] if issuers else None), None, bool(issuers)


def _usage_problem(certificate: x509.Certificate, row: CertificateRecord) -> str | None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return "it is not marked for client authentication"
    if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:  # RFC 5280 §4.2.1.12: id-kp-clientAuth
        return "it is not marked for client authentication"
    try:
        if certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "it is a certification authority certificate, not a person's"
    except x509.ExtensionNotFound:
        pass
    if row.profile != "browser":
        return f"it was issued for another use ({row.profile})"
    return None


def _decide_in_ledger(runtime: Runtime, session: Session, certificate: x509.Certificate, digest: str,
                      service: str | None, point: str | None, issuer_certificate: IssuerCertificates
                      ) -> AccessDecision:
    portal = portal_url(runtime)
    now = runtime.clock.now()
    asked: dict[str, Any] = {"service": service, "connection_point": point,
                             "serial": format_serial(certificate.serial_number)}
    issuer, row, issuer_known = _ledger_row(session, certificate, digest, issuer_certificate)
    if not issuer_known:
        return _refuse(runtime, "unknown_issuer", "This certificate was not issued by the Portail PKI.",
                       f"Use the certificate delivered by the portal; request one at {portal}.", **asked)
    assert issuer is not None
    asked["issuer"] = issuer.name
    if issuer.status == IssuerStatus.REMOVED:
        return _refuse(runtime, "issuer_removed",
                       f"This certificate comes from a certification authority ({issuer.name}) that is no "
                       "longer trusted.", f"Request a new certificate at {portal}.", **asked)
    if row is None:
        return _refuse(runtime, "unknown_certificate",
                       "This certificate is not in the register of the Portail PKI.",
                       f"Use the certificate delivered by the portal; request a new one at {portal}.", **asked)
    asked.update(certificate_id=row.id, not_after=row.not_after)
    if row.status == CertificateStatus.REVOKED:
        when = _when(row.revoked_at) if row.revoked_at else "an earlier date"
        why = REASON_WORDS.get(row.revocation_reason or "", row.revocation_reason or "no reason given")
        return _refuse(runtime, "revoked", f"This certificate was revoked on {when} ({why}).",
                       f"Request a new one at {portal}.", **asked)
    if row.status != CertificateStatus.ISSUED:
        return _refuse(runtime, "unknown_certificate", "This certificate was never completely issued.",
                       f"Request a new one at {portal}.", **asked)
    if now < certificate.not_valid_before_utc:
        return _refuse(runtime, "not_yet_valid",
                       f"This certificate is not valid before {_when(certificate.not_valid_before_utc)}.",
                       "Check your computer's clock, or try again after that date.", **asked)
    if now > certificate.not_valid_after_utc:
        return _refuse(runtime, "expired",
                       f"This certificate expired on {_when(certificate.not_valid_after_utc)}.",
                       f"Request a new one at {portal}.", **asked)
    problem = _usage_problem(certificate, row)
    if problem:
        return _refuse(runtime, "wrong_usage", f"This certificate cannot open the front office: {problem}.",
                       f"Use your personal browser certificate; request one at {portal}.", **asked)
    return _decide_for_holder(runtime, session, row, asked)


def _decide_for_holder(runtime: Runtime, session: Session, row: CertificateRecord,
                       asked: dict[str, Any]) -> AccessDecision:
    portal = portal_url(runtime)
    holder = gate_store.get_holder(session, row.user_id) if row.user_id is not None else None
    if holder is None:
        return _refuse(runtime, "no_holder", "This certificate does not belong to a person of the portal.",
                       f"Use your personal browser certificate; request one at {portal}.", **asked)
    user, company = holder
    asked.update(user_id=user.id, full_name=user.full_name, email=user.email)
    if user.status != UserStatus.ACTIVE:
        state = "deactivated" if user.status == UserStatus.DEACTIVATED else "not active yet"
        return _refuse(runtime, "account_inactive", f"Your account ({user.email}) is {state}.",
                       "Ask your company's administrator to activate it, then come back.", **asked)
    if company is None or company.id != row.company_id:
        return _refuse(runtime, "detached",
                       "This certificate was issued for a company you no longer belong to.",
                       f"Ask your new company's administrator to add you, then request a certificate at {portal}.",
                       **asked)
    asked.update(company_id=company.id, company_name=company.name, eic=company.eic)
    granted = tuple(GrantedService(s.code, s.name)
                    for s in gate_store.list_granted_services(session, user_id=user.id, company_id=company.id))
    asked["services"] = granted
    service, point = asked["service"], asked["connection_point"]
    if service is None:
        return AccessDecision(allowed=True, status=200, code="ok", message="Welcome.", action="",
                              portal_url=portal, **asked)
    if gate_store.get_service(session, service) is None:
        return _refuse(runtime, "unknown_service", f"There is no service {service!r}.",
                       "Go back to the home page and choose one of your services.", status=404, **asked)
    if service not in {s.code for s in granted}:
        return _refuse(runtime, "service_not_granted",
                       f"None of your groups in {company.name} grants access to the service {service!r}.",
                       "Ask your company's administrator to add you to a group that has this service.", **asked)
    points = tuple(PerimeterPoint(p.code, p.label) for p in gate_store.list_service_perimeter(
        session, user_id=user.id, company_id=company.id, service_code=service))
    asked["connection_points"] = points
    if point is not None and point not in {p.code for p in points}:
        return _refuse(runtime, "outside_perimeter",
                       f"The connection point {point!r} is not in your perimeter for this service.",
                       "Ask your company's administrator to add it to your group's perimeter.", **asked)
    return AccessDecision(allowed=True, status=200, code="ok", message="Welcome.", action="",
                          portal_url=portal, **asked)


# --- audit of refusals ---------------------------------------------------------------------------------
def audit_refusal(runtime: Runtime, decision: AccessDecision, digest: str, source_ip: str | None,
                  tls_error: str | None, repeated: int) -> None:
    """One `gate.refused` event; `repeated` counts the identical refusals folded into it."""
    details: dict[str, Any] = {"reason": decision.code, "message": decision.message, "service": decision.service,
                               "connection_point": decision.connection_point, "issuer": decision.issuer,
                               "sha256": digest or None}
    if repeated:
        details["repeated"] = repeated
    if tls_error:
        details["tls_error"] = tls_error
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor=GATE_ACTOR, action="gate.refused",
                     object_type="certificate", object_id=decision.serial or (digest[:16] or "none"),
                     company_id=decision.company_id, details=details, source_ip=source_ip)
