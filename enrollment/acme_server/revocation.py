"""revokeCert (RFC 8555 §7.6): signed by the account key of the certificate's company, or by the
certificate's own key (jwk); then the one revocation path (`ca.revoke`), so CRLs and OCSP follow."""

from __future__ import annotations

from acme import messages
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ca.errors import PKIError
from ca.ledger import Session, store
from ca.ledger.models import CertificateRecord
from ca.revoke import revoke_certificate
from ca.runtime import Runtime
from ca.vocabulary import CertificateStatus
from ca.x509.reasons import REASON_NAMES
from ca.x509.serials import format_serial
from enrollment.acme_server.accounts import Caller
from enrollment.acme_server.errors import AcmeError, as_acme_error, malformed, unauthorized
from enrollment.acme_server.jws import DECODE_ERRORS


def _spki(key: object) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def revoke(runtime: Runtime, caller: Caller) -> str:
    payload = caller.request.json_payload()
    try:
        message = messages.Revocation.from_json(dict(payload, reason=payload.get("reason", 0)))
    except DECODE_ERRORS:
        raise malformed("revokeCert: certificate must be base64url DER") from None
    reason = REASON_NAMES.get(message.reason) if isinstance(message.reason, int) else None
    if reason is None:
        raise AcmeError("badRevocationReason", f"revocation reason {message.reason!r} is not allowed; use one of "
                        + ", ".join(str(c) for c in sorted(REASON_NAMES)))
    certificate = message.certificate
    serial = format_serial(certificate.serial_number)
    der = certificate.public_bytes(Encoding.DER)
    with runtime.sessionmaker() as session:
        record = next((r for r in _rows(session, serial) if r.der == der), None)
        if record is None:
            raise not_ours()
        if caller.account_id is not None:
            if record.company_id is None or record.company_id != caller.company_id:
                raise unauthorized("this account's company does not hold this certificate")
        else:
            assert caller.request.jwk is not None
            if _spki(caller.request.jwk.public_key().key) != _spki(certificate.public_key()):
                raise unauthorized("the JWS key is neither an account key nor this certificate's key")
        if record.status == CertificateStatus.REVOKED:
            raise AcmeError("alreadyRevoked", f"certificate {serial} is already revoked")
        issuer_name = next(i.name for i in store.list_issuers(session) if i.id == record.issuer_id)
    try:
        revoke_certificate(runtime, caller.actor(), serial=serial, reason=reason, issuer_name=issuer_name)
    except PKIError as error:
        raise as_acme_error(error) from None
    return serial


def _rows(session: Session, serial: str) -> list[CertificateRecord]:
    try:
        return [store.get_certificate(session, serial)]
    except PKIError:
        return []


def not_ours() -> AcmeError:
    return AcmeError("malformed", "this certificate was not issued by this CA", 404)
