"""Issuer lifecycle: rotation, status, retirement and key backup (issue 6 §1, §5).

A rotation is a guided sequence: `issuer rotate` makes the new key and CSR, the offline root signs it,
`issuer install` makes the new issuer active and the old one retired. A retired issuer signs nothing but
its CRLs and OCSP responder certificates until its last certificate expires; only then may it be removed
(`retire --final`), unless an operator forces it with a reason that goes into the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca import vocabulary
from ca.actor import Actor
from ca.errors import BadRequestError, ConflictError, NotAuthorizedError
from ca.files import write_new_file
from ca.issuer import check_issuer_name, key_path, public_key_path
from ca.keys.filekey import load_private_key, save_private_key
from ca.ledger import store
from ca.ledger.audit import append_event
from ca.lifecycle.issuers import create_issuer
from ca.runtime import Runtime
from ca.secrets import check_passphrase, read_passphrase
from ca.x509.names import dn_text
from ca.x509.signer import ca_private_key


@dataclass(frozen=True)
class IssuerStatus:
    name: str
    status: str
    subject: str
    not_after: datetime
    live_certificates: int
    last_expiry: datetime | None
    crl_number: int | None
    crl_this_update: datetime | None
    crl_next_update: datetime | None
    responder_not_after: datetime | None


def issuer_status(runtime: Runtime, actor: Actor) -> list[IssuerStatus]:
    actor.require_operator()
    now = runtime.clock.now()
    result = []
    with runtime.sessionmaker() as session:
        states = {(s.issuer_id, s.kind): s for s in store.list_crl_states(session)}
        for record in store.list_issuers(session):
            cert = x509.load_der_x509_certificate(record.certificate_der)
            live, last = store.count_live_certificates(session, record.id, now)
            full = states.get((record.id, "full"))
            responder = store.latest_responder(session, record.id, now)
            result.append(IssuerStatus(
                name=record.name, status=record.status, subject=dn_text(cert.subject),
                not_after=cert.not_valid_after_utc, live_certificates=live, last_expiry=last,
                crl_number=full.crl_number if full else None, crl_this_update=full.this_update if full else None,
                crl_next_update=full.next_update if full else None,
                responder_not_after=responder.not_after if responder else None,
            ))
    return result


def rotate_issuer(runtime: Runtime, actor: Actor, *, name: str, subject: str, key_type: str,
                  passphrase: bytes) -> bytes:
    """Step 1 of a rotation: a new issuer key and CSR; the current issuer keeps signing until install."""
    actor.require_operator()
    with runtime.sessionmaker() as session:
        if name in {r.name for r in store.list_issuers(session)}:
            raise ConflictError(f"an issuer named {name!r} already exists: choose a new name for the rotation")
        if not store.list_issuers(session):
            raise BadRequestError("no issuer to rotate from: use `pkictl issuer create` for the first one")
    return create_issuer(runtime, actor, name=name, subject=subject, key_type=key_type, passphrase=passphrase)


def retire_issuer(runtime: Runtime, actor: Actor, *, name: str, final: bool, force: bool = False,
                  reason: str | None = None) -> str:
    """Retire an issuer (it stops signing certificates) or, with `final`, remove it from service."""
    actor.require_operator()
    now = runtime.clock.now()
    if force and not (reason and reason.strip()):
        raise BadRequestError("--force needs --reason: it goes into the audit trail")
    with runtime.sessionmaker.begin() as session:
        record = store.get_issuer_by_name(session, name)
        if not final:
            if record.status != vocabulary.IssuerStatus.ACTIVE:
                raise ConflictError(f"issuer {name} is already {record.status}")
            store.set_issuer_status(session, record, vocabulary.IssuerStatus.RETIRED)
            new_status = "retired"
        else:
            if record.status == vocabulary.IssuerStatus.REMOVED:
                raise ConflictError(f"issuer {name} was already removed")
            live, last = store.count_live_certificates(session, record.id, now)
            if live and not force:
                raise ConflictError(
                    f"issuer {name} still has {live} unexpired unrevoked certificate(s), the last expiring "
                    f"{last:%Y-%m-%d %H:%M} UTC; wait, revoke them, or use --force --reason")
            store.set_issuer_status(session, record, vocabulary.IssuerStatus.REMOVED)
            new_status = "removed"
        append_event(session, at=now, actor=actor.name, action=f"issuer.{new_status}", object_type="issuer",
                     object_id=name, details={"forced": force, "reason": reason}, source_ip=actor.source_ip)
    return new_status


def export_issuer_key(runtime: Runtime, actor: Actor, *, name: str, new_passphrase: bytes) -> bytes:
    """An encrypted PKCS#8 backup of a file key under a new passphrase (the service's passphrase unlocks it)."""
    actor.require_operator()
    check_issuer_name(name)
    check_passphrase(new_passphrase)
    key = load_private_key(key_path(runtime.settings.ca.key_dir, name),
                           read_passphrase(runtime.settings.ca.passphrase_file))
    backup = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(new_passphrase))
    with runtime.sessionmaker.begin() as session:
        append_event(session, at=runtime.clock.now(), actor=actor.name, action="issuer.key_exported",
                     object_type="issuer", object_id=name, source_ip=actor.source_ip)
    return backup


def restore_issuer_key(runtime: Runtime, actor: Actor, *, name: str, backup: bytes, backup_passphrase: bytes) -> None:
    """Bring a backed-up key back into `ca.key_dir`, re-encrypted with the service's passphrase.

    All or nothing (issue 10): every check comes before the first write — the backup opens, the service's
    passphrase is readable, neither file exists, an issuer of that name in the ledger has this very key — and
    the two files are written inside the audit event's transaction: if writing or the commit fails, the files
    this call created are removed (and the key directory, if this call created it), so a refusal writes nothing.
    """
    actor.require_operator()
    check_issuer_name(name)
    try:
        key = ca_private_key(serialization.load_pem_private_key(backup, password=backup_passphrase))
    except (ValueError, TypeError):
        raise NotAuthorizedError("cannot open the backup: wrong passphrase or not an encrypted key") from None
    service_passphrase = read_passphrase(runtime.settings.ca.passphrase_file)
    key_dir = runtime.settings.ca.key_dir
    private_file, public_file = key_path(key_dir, name), public_key_path(key_dir, name)
    for path in (private_file, public_file):
        if path.exists():
            raise ConflictError(f"refusing to overwrite existing file {path}")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    created_dir = not key_dir.exists()
    written: list[Path] = []
    try:
        with runtime.sessionmaker.begin() as session:
            record = store.find_issuer_by_name(session, name)
            if record is not None:
                installed = x509.load_der_x509_certificate(record.certificate_der).public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                if installed != public_pem:
                    raise ConflictError(f"the backup is not the key of issuer {name}: its public key differs "
                                        "from the installed certificate's")
            append_event(session, at=runtime.clock.now(), actor=actor.name, action="issuer.key_restored",
                         object_type="issuer", object_id=name, source_ip=actor.source_ip)
            session.flush()  # the event is in place (chain head read, row inserted) before the first write
            save_private_key(private_file, key, service_passphrase)
            written.append(private_file)
            write_new_file(public_file, public_pem)
            written.append(public_file)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created_dir and key_dir.is_dir() and not any(key_dir.iterdir()):
            key_dir.rmdir()
        raise
