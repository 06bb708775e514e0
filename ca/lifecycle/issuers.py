"""Online issuers: key ceremony on the CA host, installation of the certificate the offline root signed."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.clock import iso_or_none
from ca.errors import BadRequestError, PKIError
from ca.issuer import (
    check_issuer_certificate,
    check_issuer_name,
    create_issuer_key,
    create_token_issuer_key,
    issuer_key_ref,
    same_key,
)
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.ledger.models import IssuerRecord
from ca.runtime import Runtime
from ca.x509.names import dn_text, parse_dn
from ca.x509.signer import ca_public_key


@dataclass(frozen=True)
class IssuerView:
    name: str
    status: str
    subject: str
    not_before: datetime
    not_after: datetime
    sha256: str
    installed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("not_before", "not_after", "installed_at"):
            data[key] = iso_or_none(data[key])
        return data


def issuer_view(record: IssuerRecord) -> IssuerView:
    cert = x509.load_der_x509_certificate(record.certificate_der)
    return IssuerView(
        name=record.name, status=record.status, subject=dn_text(cert.subject),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(record.certificate_der).hexdigest(), installed_at=record.installed_at,
    )


def create_issuer(
    runtime: Runtime, actor: Actor, *, name: str, subject: str, key_type: str, passphrase: bytes | None,
    key_uri: str | None = None,
) -> bytes:
    """Generate the issuer key in `ca.key_dir` (or on the PKCS#11 token named by `key_uri`) and return the
    CSR (PEM) to carry to the offline root."""
    actor.require_operator()
    check_issuer_name(name)
    ca = runtime.settings.ca
    if key_uri:
        from ca.secrets import read_pin

        csr_pem = create_token_issuer_key(ca.key_dir, name, parse_dn(subject), key_type, key_uri,
                                          read_pin(ca.pkcs11_pin_file), ca.pkcs11_module)
    else:
        if passphrase is None:
            raise BadRequestError("an issuer key file needs --passphrase-file")
        csr_pem = create_issuer_key(ca.key_dir, name, parse_dn(subject), key_type, passphrase)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=now, actor=actor.name, action="issuer.key_created", object_type="issuer",
                     object_id=name, details={"subject": subject, "key_type": key_type},
                     source_ip=actor.source_ip)
    return csr_pem


def install_issuer(
    runtime: Runtime, actor: Actor, *, name: str, certificate: x509.Certificate, root: x509.Certificate
) -> IssuerView:
    """Record the signed issuer as the active one; the previous active issuer becomes retired."""
    actor.require_operator()
    check_issuer_name(name)
    key_dir = runtime.settings.ca.key_dir
    check_issuer_certificate(certificate, root, key_dir, name)
    now = runtime.clock.now()
    if certificate.not_valid_after_utc <= now:
        raise BadRequestError("the issuer certificate has already expired")
    key_ref = issuer_key_ref(key_dir, name)
    _check_service_can_sign(runtime, name, key_ref, certificate)
    with runtime.sessionmaker.begin() as session:
        record = store.add_issuer(
            session, name=name, certificate_der=certificate.public_bytes(Encoding.DER),
            root_der=root.public_bytes(Encoding.DER), key_ref=key_ref, at=now,
        )
        retired = store.mark_issuers_retired_except(session, record.id)
        append_event(session, at=now, actor=actor.name, action="issuer.installed", object_type="issuer",
                     object_id=name, details={"retired": [r.name for r in retired],
                                              "subject": dn_text(certificate.subject)},
                     source_ip=actor.source_ip)
        return issuer_view(record)


def _check_service_can_sign(runtime: Runtime, name: str, key_ref: str, certificate: x509.Certificate) -> None:
    """Unlock the key now, with the passphrase the service will use (ca.passphrase_file): an issuer whose key
    was made with another passphrase would otherwise be installed active and fail every issuance."""
    try:
        signer = runtime.signer_for(key_ref)
    except PKIError as exc:
        raise BadRequestError(f"issuer {name!r} not installed: the service cannot unlock its key with "
                              f"ca.passphrase_file ({exc})") from None
    if not same_key(signer.public_key(), ca_public_key(certificate.public_key())):
        raise BadRequestError(f"issuer {name!r} not installed: its key file does not hold the certificate's key")


def list_issuers(runtime: Runtime, actor: Actor) -> list[IssuerView]:
    with runtime.sessionmaker() as session:
        return [issuer_view(r) for r in store.list_issuers(session)]
