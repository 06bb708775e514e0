"""Readiness of a service (`GET /readyz`, issue 10 §9) and the facts its `/metrics` gauges show.

A check says `ok`, `failing` (the service should not get traffic), or `unknown` (it could not be looked at,
because another item failed: the ledger). The adapters answer 200 when every item is ok, else 503 naming the
items that are not. Checks are cheap: one round trip to the ledger at most per item, and file reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from ca.errors import LedgerUnavailableError, PKIError
from ca.ledger import health_store, store
from ca.runtime import Runtime
from ca.vocabulary import IssuerStatus
from revocation.ocsp import OCSPService

OK, FAILING, UNKNOWN = "ok", "failing", "unknown"


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # ok | failing | unknown
    detail: str = ""


@dataclass(frozen=True)
class CRLFact:
    """A published CRL file as relying parties fetch it."""

    file: str
    this_update: datetime
    next_update: datetime | None
    size: int


def check_ledger(runtime: Runtime) -> Check:
    try:
        with runtime.sessionmaker() as session:
            health_store.ping(session)
    except LedgerUnavailableError as error:
        return Check("ledger", FAILING, str(error))
    return Check("ledger", OK)


def check_issuer_keys(runtime: Runtime, *, ledger_ok: bool) -> Check:
    """Every active and retired issuer's key unlocks (once per process: the Runtime keeps the signers)."""
    if not ledger_ok:
        return Check("issuer_keys", UNKNOWN, "the ledger is unavailable")
    try:
        with runtime.sessionmaker() as session:
            records = [r for r in store.list_issuers(session) if r.status != IssuerStatus.REMOVED]
        if not records:
            return Check("issuer_keys", FAILING, "no issuer is installed")
        for record in records:
            runtime.signer_for(record.key_ref)
    except LedgerUnavailableError as error:
        return Check("issuer_keys", UNKNOWN, str(error))
    except (PKIError, OSError, ValueError) as error:
        return Check("issuer_keys", FAILING, f"an issuer key does not load: {error}")
    return Check("issuer_keys", OK, f"{len(records)} issuer key(s) loaded")


def crl_facts(crl_dir: Path) -> list[CRLFact]:
    """The CRL files in `crl_dir` (unreadable ones are skipped: the check below names them)."""
    facts = []
    for path in sorted(crl_dir.glob("*.crl")) if crl_dir.is_dir() else []:
        try:
            data = path.read_bytes()
            crl = x509.load_der_x509_crl(data)
        except (OSError, ValueError):
            continue
        facts.append(CRLFact(path.name, crl.last_update_utc, crl.next_update_utc, len(data)))
    return facts


def check_crls(crl_dir: Path, now: datetime) -> Check:
    """Each published CRL is readable and before its nextUpdate (RFC 5280 §5.1.2.5)."""
    files = sorted(crl_dir.glob("*.crl")) if crl_dir.is_dir() else []
    facts = crl_facts(crl_dir)
    if not facts:
        return Check("crls", FAILING, f"no CRL is published in {crl_dir}")
    unreadable = sorted({path.name for path in files} - {fact.file for fact in facts})
    stale = [fact.file for fact in facts if fact.next_update is None or fact.next_update <= now]
    if unreadable or stale:
        return Check("crls", FAILING, "; ".join(filter(None, [
            f"unreadable: {', '.join(unreadable)}" if unreadable else "",
            f"past nextUpdate: {', '.join(stale)}" if stale else ""])))
    return Check("crls", OK, f"{len(facts)} CRL(s) fresh")


def check_ocsp(runtime: Runtime, service: OCSPService, now: datetime, *, ledger_ok: bool) -> Check:
    """The responder knows its issuers, their responder certificates are valid, and no stored pre-signed
    answer of a valid certificate is past its nextUpdate (the upkeep re-signs them at half-life)."""
    responders = service.responders()
    if not responders:
        return Check("ocsp", FAILING, "the responder has no issuer loaded")
    expired = [name for name, cert in responders if cert.not_valid_after_utc <= now]
    if expired:
        return Check("ocsp", FAILING, f"responder certificate expired for {', '.join(expired)}")
    if not ledger_ok:
        return Check("ocsp", OK, "answering from memory (the ledger is unavailable)")
    try:
        with runtime.sessionmaker() as session:
            stale = health_store.count_expired_ocsp_responses(session, now)
    except LedgerUnavailableError as error:
        return Check("ocsp", UNKNOWN, str(error))
    if stale:
        return Check("ocsp", FAILING, f"{stale} stored answer(s) past nextUpdate")
    return Check("ocsp", OK, f"{len(responders)} responder(s) current")


def readiness(runtime: Runtime, *, ocsp: OCSPService | None = None, crls: bool = False) -> list[Check]:
    """The checks of one service: the ledger and the issuer keys everywhere; the repository adds its CRL
    files and its OCSP responder."""
    now = runtime.clock.now()
    ledger = check_ledger(runtime)
    ledger_ok = ledger.state == OK
    checks = [ledger, check_issuer_keys(runtime, ledger_ok=ledger_ok)]
    if crls:
        checks.append(check_crls(runtime.settings.repository.crl_dir, now))
    if ocsp is not None:
        checks.append(check_ocsp(runtime, ocsp, now, ledger_ok=ledger_ok))
    return checks
