"""The Runtime: settings, clock, database and issuers, built once by an adapter (DESIGN §2)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography import x509

from ca.clock import Clock, SystemClock
from ca.errors import NoLedgerError
from ca.issuer import Issuer, load_signer
from ca.ledger import Engine, SessionFactory
from ca.ledger.database import describe_ledger, ledger_exists, make_engine, make_sessionmaker, upgrade_database
from ca.ledger.models import IssuerRecord
from ca.secrets import read_passphrase
from ca.settings import Settings
from ca.x509.signer import Signer


class RevokedSerial(NamedTuple):
    issuer_id: int
    serial: str


RevocationListener = Callable[["Runtime", list[RevokedSerial]], None]


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    sessionmaker: SessionFactory
    # Called after a revocation commits (ca.revoke.announce_revocations); wired by the adapters.
    revocation_listeners: list[RevocationListener] = field(default_factory=list)
    _signers: dict[str, Signer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def signer_for(self, key_ref: str) -> Signer:
        """Issuer keys are decrypted once per process with the passphrase file of the settings."""
        with self._lock:
            signer = self._signers.get(key_ref)
            if signer is None:
                ca = self.settings.ca
                if key_ref.startswith("pkcs11:"):
                    from ca.secrets import read_pin

                    signer = load_signer(key_ref, pin=read_pin(ca.pkcs11_pin_file), module=ca.pkcs11_module)
                else:
                    signer = load_signer(key_ref, passphrase=read_passphrase(ca.passphrase_file))
                self._signers[key_ref] = signer
            return signer

    def issuer_from_record(self, record: IssuerRecord) -> Issuer:
        return Issuer(
            id=record.id,
            name=record.name,
            status=record.status,
            certificate=x509.load_der_x509_certificate(record.certificate_der),
            root=x509.load_der_x509_certificate(record.root_der),
            signer=self.signer_for(record.key_ref),
        )

    def close(self) -> None:
        from ca import signing_pool  # its workers exit now, not when the runtime is garbage-collected

        signing_pool.release(self)
        self.engine.dispose()


def engine_for(settings: Settings) -> Engine:
    database = settings.database
    return make_engine(database.url, sqlite_busy_timeout_ms=database.sqlite_busy_timeout_ms,
                       connect_timeout_seconds=database.connect_timeout_seconds)


def build_runtime(settings: Settings, clock: Clock | None = None, *, migrate: bool = True,
                  create: bool = True) -> Runtime:
    """`migrate` brings the schema to the newest revision; with `create=False` a ledger that does not exist
    yet is refused (`NoLedgerError`) before anything is created — no file, no directory, no schema."""
    url = settings.database.url
    if not create and not ledger_exists(url):
        raise NoLedgerError(no_ledger_message(url))
    engine = engine_for(settings)
    if migrate:
        upgrade_database(engine)
    return Runtime(settings=settings, clock=clock or SystemClock(), engine=engine,
                   sessionmaker=make_sessionmaker(engine))


def no_ledger_message(url: str) -> str:
    where = describe_ledger(url)
    if url.startswith("sqlite"):
        return f"no ledger here ({where}): run 'pkictl quickstart', or point --config / PKI_CONFIG at your site"
    return (f"no ledger in {where} (no ledger schema yet): run 'pkictl db upgrade', "
            "or point --config / PKI_CONFIG at your site")


def upgrade_ledger(settings: Settings) -> str | None:
    """`pkictl db upgrade`: migrate and report the revision now in force."""
    from ca.ledger.database import current_revision

    engine = engine_for(settings)
    try:
        upgrade_database(engine)
        return current_revision(engine)
    finally:
        engine.dispose()
