"""Issuance exactly as DESIGN §4: validate, record intent, sign once, record result.

No certificate can reach a caller without its ledger row: the row is committed `pending` before the key
signs, and the certificate is returned only after the second commit stored its DER. When the certificate
is for a portal request (`ForRequest`), the request's own rows ride in the same two transactions: a new
request under the `auto` policy is recorded with the intent, and the request is marked `issued` with the
result — so one CSR upload is one validation read and two commits.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.actor import Actor
from ca.errors import (
    BadCSRError,
    BadRequestError,
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    PKIError,
    SerialCollisionError,
    SigningError,
)
from ca.fast_issuance import count_path, fast_sign, issuer_spki, shape_for, shape_key
from ca.issuer import Issuer
from ca.ledger import Session, issuance_reads, issuance_store, portal_store, renewal_store, request_batch_store
from ca.ledger.audit import append_event
from ca.ledger.group_commit import committer_for
from ca.metrics import CERTIFICATES_ISSUED, ISSUANCE_SECONDS
from ca.runtime import Runtime
from ca.signing_pool import CheckedKey, SigningPool, WorkerLostError, checked_key, pool_for
from ca.vocabulary import CertificateStatus, IssuerStatus, RequestStatus, UserStatus
from ca.x509.csr import MAX_CSR_BYTES, CheckedCSR, checked_csr
from ca.x509.der import starts_sequence_with
from ca.x509.names import browser_subject, dn_text
from ca.x509.serials import format_serial, random_serial_number
from ca.x509.signer import ca_public_key
from ca.x509.signing import sign_certificate, sign_tbs_der
from ca.x509.tbs_template import IdentityMemo, LeafFields, encode_with_key, leaf_fields
from ca.x509.templates import Profile, RepositoryURLs, leaf_builder, load_profile, repository_urls

_SERIAL_ATTEMPTS = 5
MAX_COMMENT = 500


@dataclass(frozen=True)
class IssuedCertificate:
    """An issued certificate, its DER as signed and stored in the ledger; the parsed `certificate` is made on
    first use (a batch's caller that only stores or sends the DER never parses it)."""

    serial: str
    issuer: str
    der: bytes
    chain: tuple[x509.Certificate, ...]  # issuer, root
    request_id: int | None = None

    @functools.cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)


@dataclass(frozen=True)
class ForRequest:
    """The portal request a certificate is issued for: an existing one (`request_id`, approved by an
    administrator or waiting for a generated key), or — `request_id` None — a new request of the company,
    recorded `approved` in the intent transaction (the `auto` policy)."""

    company_id: int
    request_id: int | None = None
    policy: str = "auto"
    predecessor_id: int | None = None  # a renewal (enrollment.requests.renewal): the certificate it succeeds


def _check_actor_may_issue_for(actor: Actor, user_id: int, company_id: int | None) -> None:
    if actor.is_operator:
        return
    if actor.user_id == user_id:
        return
    if actor.is_company_admin and company_id is not None and company_id == actor.company_id:
        return
    raise NotAuthorizedError("you may not request a certificate for this user")


@dataclass(frozen=True)
class _Plan:
    """Everything validated before the intent: who, by which issuer, with which subject and validity."""

    profile: Profile
    issuer: Issuer
    user: issuance_reads.UserFacts | None
    company: issuance_reads.CompanyFacts | None
    subject: x509.Name
    emails: tuple[str, ...]
    not_after: datetime


# A user's subject is made (and validated) once, and the same Name object handed on, so that its DER
# (ca.x509.tbs_template.encode_name) and its text are computed once too: Name objects are immutable.
_browser_subject = functools.lru_cache(maxsize=4096)(browser_subject)
_subject_text = IdentityMemo(dn_text)

_PARSED: dict[tuple[bytes, bytes], tuple[x509.Certificate, x509.Certificate]] = {}


def _issuer(runtime: Runtime, record: issuance_reads.IssuerFacts) -> Issuer:
    """The issuer of a ledger row read in this very request; its certificates are parsed once per process
    (keyed by their DER, so a replaced certificate is parsed anew) and its key loaded once per runtime."""
    parsed = _PARSED.get((record.certificate_der, record.root_der))
    if parsed is None:
        parsed = (x509.load_der_x509_certificate(record.certificate_der),
                  x509.load_der_x509_certificate(record.root_der))
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[(record.certificate_der, record.root_der)] = parsed
    return Issuer(id=record.id, name=record.name, status=record.status, certificate=parsed[0], root=parsed[1],
                  signer=runtime.signer_for(record.key_ref))


def _plan(runtime: Runtime, actor: Actor, csr: CheckedCSR, *, user_email: str | None,
          profile_name: str, days: int | None, dns_names: tuple[str, ...], issuer_name: str | None,
          company_id: int | None = None) -> _Plan:
    profile = _profile(runtime, profile_name, days)
    # One read-only transaction (no write lock on SQLite): user, company, blocked key, issuer.
    facts = issuance_reads.read_issuance_facts(runtime.engine, user_email=user_email,
                                               spki_sha256=csr.spki_sha256, issuer_name=issuer_name,
                                               company_id=company_id)
    return _plan_from_facts(runtime, actor, profile, days, facts, dns_names)


def _profile(runtime: Runtime, profile_name: str, days: int | None) -> Profile:
    profile = load_profile(profile_name, runtime.settings.profiles)
    days = profile.default_days if days is None else days
    if not 1 <= days <= profile.max_days:
        raise BadRequestError(f"validity must be 1 to {profile.max_days} days for profile {profile.name}")
    return profile


def _plan_from_facts(runtime: Runtime, actor: Actor, profile: Profile, days: int | None,
                     facts: issuance_reads.IssuanceFacts, dns_names: tuple[str, ...]) -> _Plan:
    settings = runtime.settings
    now = runtime.clock.now()
    days = profile.default_days if days is None else days
    user, company = facts.user, facts.company
    if profile.name == "browser":
        if user is None or company is None:
            raise BadRequestError("a browser certificate needs a user who belongs to a company")
        if user.status != UserStatus.ACTIVE:
            raise BadRequestError(f"user {user.email} is not active")
    if user is not None:
        _check_actor_may_issue_for(actor, user.id, user.company_id)
    elif not actor.is_operator:
        raise NotAuthorizedError("only an operator may issue certificates without a user")
    if facts.key_blocked:
        raise BadCSRError("this public key is blocked (reported compromised); generate a new key")
    record = facts.issuer
    if record.status == IssuerStatus.REMOVED or (record.status == IssuerStatus.RETIRED
                                                 and profile.name != "ocsp-responder"):
        # A retired issuer signs only its CRLs and OCSP responder certificates (issue 6 §1).
        raise BadRequestError(f"issuer {record.name} is {record.status}: it issues no new certificates")
    issuer = _issuer(runtime, record)
    emails: tuple[str, ...] = ()
    if profile.name == "browser":
        assert user is not None and company is not None
        subject = _browser_subject(settings.ca.country, company.name, company.eic, user.full_name)
        emails = (user.email,)
    elif profile.name == "tls-server":
        if not dns_names:
            raise BadRequestError("a tls-server certificate needs at least one --dns name")
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, dns_names[0])])
    else:
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{issuer.name} OCSP responder")])
    not_after = min(now + timedelta(days=days), issuer.certificate.not_valid_after_utc)
    if not_after <= now:
        raise BadRequestError(f"issuer {issuer.name} has expired")
    return _Plan(profile, issuer, user, company, subject, emails, not_after)


def _record_new_request(session: Session, actor: Actor, plan: _Plan, request: ForRequest, csr: CheckedCSR,
                        now: datetime) -> int:
    assert plan.user is not None and plan.company is not None
    request_id = issuance_store.insert_request(session, user_id=plan.user.id, company_id=request.company_id,
                                               profile=plan.profile.name, csr_der=csr.der,
                                               status=RequestStatus.APPROVED, at=now)
    issuance_store.append_event(session, at=now, actor=actor.name, action="request.created", object_type="request",
                                object_id=str(request_id), company_id=request.company_id,
                                details={"kind": "csr", "policy": request.policy}, source_ip=actor.source_ip)
    return request_id


def mark_request_failed(runtime: Runtime, actor: Actor, *, company_id: int, request_id: int,
                        error: PKIError) -> None:
    """The CA refused after the request was recorded: the request says so, with the reason."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        row = portal_store.get_company_request(session, company_id, request_id)
        portal_store.mark_request(session, row, status=RequestStatus.FAILED, at=now,
                                  comment=str(error)[:MAX_COMMENT])
        append_event(session, at=now, actor=actor.name, action="request.failed", object_type="request",
                     object_id=str(request_id), company_id=company_id, details={"error": str(error)},
                     source_ip=actor.source_ip)


def issue_certificate(
    runtime: Runtime,
    actor: Actor,
    *,
    csr_data: bytes | CheckedCSR,
    user_email: str | None,
    profile_name: str = "browser",
    days: int | None = None,
    dns_names: tuple[str, ...] = (),
    issuer_name: str | None = None,
    request: ForRequest | None = None,
    company_id: int | None = None,
) -> IssuedCertificate:
    started = time.perf_counter()
    now = runtime.clock.now()
    request_id = request.request_id if request else None
    try:
        # 1. Validate everything first: CSR (proof of possession, key quality), profile, user, blocked key.
        csr = checked_csr(csr_data)
        plan = _plan(runtime, actor, csr, user_email=user_email, profile_name=profile_name, days=days,
                     dns_names=dns_names, issuer_name=issuer_name, company_id=company_id)
        issuer, user, company = plan.issuer, plan.user, plan.company
        urls = repository_urls(runtime.settings.repository.base_url, issuer.name)
        lint = runtime.settings.ca.lint_before_sign

        # 2. Transaction 1: the intent row with a fresh random serial (drawn again on a collision), committed
        #    — with the new request's row when the company approves automatically. Concurrent issuances share
        #    the commit (ca.ledger.group_commit); the call returns only once the row is committed.
        committer = committer_for(runtime.sessionmaker)
        subject_text = _subject_text(plan.subject)
        row_id: int | None = None

        def record_intent(serial_number: int) -> None:
            nonlocal row_id, request_id

            def intent(session: Session) -> tuple[int, int | None]:
                new_request_id = request_id
                if request is not None and request.predecessor_id is not None:  # a renewal: one live successor
                    renewal_store.claim_predecessor(session, request.predecessor_id, now)
                if request is not None and new_request_id is None:
                    new_request_id = _record_new_request(session, actor, plan, request, csr, now)
                new_row_id = issuance_store.insert_pending(
                    session, issuer_id=issuer.id, serial=format_serial(serial_number), profile=plan.profile.name,
                    subject=subject_text, not_before=now, not_after=plan.not_after, spki_sha256=csr.spki_sha256,
                    user_id=user.id if user else None, company_id=company.id if company else None,
                    request_id=new_request_id, created_at=now,
                    predecessor_id=request.predecessor_id if request else None)
                return new_row_id, new_request_id

            row_id, request_id = committer.run(intent)  # committed

        # 3. Sign once, exactly the checked TBS bytes: the fast path's template (its shape linted once,
        #    the varying fields by exact validators), or the builder pipeline (preview, lint, intent, sign).
        certificate = None
        for _attempt in range(_SERIAL_ATTEMPTS):
            serial_number = random_serial_number()
            try:
                certificate = fast_sign(plan, csr, issuer, urls, serial_number, now, dns_names, lint=lint,
                                        before_signing=record_intent)
                if certificate is None:  # the template cannot encode these values exactly: the builder does
                    builder = leaf_builder(plan.profile, plan.subject, ca_public_key(csr.public_key),
                                           issuer.certificate, serial_number, now, plan.not_after, urls,
                                           emails=plan.emails, dns_names=dns_names)
                    certificate = sign_certificate(builder, issuer.signer, lint=lint,
                                                   before_signing=lambda preview: record_intent(
                                                       preview.serial_number))
                break
            except SerialCollisionError:
                if row_id is not None:
                    raise
                continue
        else:
            raise ConflictError("could not draw a unique serial number; nothing was signed")
    except PKIError as error:
        if request is not None and request_id is not None:
            mark_request_failed(runtime, actor, company_id=request.company_id, request_id=request_id, error=error)
        raise
    assert row_id is not None and certificate is not None

    # 4. Transaction 2: store the DER and the audit events; only then may the certificate leave.
    der = certificate.public_bytes(Encoding.DER)
    serial = format_serial(certificate.serial_number)
    issued_row_id, issued_request_id = row_id, request_id

    def result(session: Session) -> None:
        issuance_store.mark_issued(session, issued_row_id, der=der)
        issuance_store.append_event(
            session, at=now, actor=actor.name, action="certificate.issued", object_type="certificate",
            object_id=serial, company_id=company.id if company else None,
            details={"issuer": issuer.name, "profile": plan.profile.name, "user": user.email if user else None,
                     "subject": subject_text},
            source_ip=actor.source_ip,
        )
        if request is not None and issued_request_id is not None:
            issuance_store.mark_request_issued(session, company_id=request.company_id,
                                               request_id=issued_request_id, at=now)
            issuance_store.append_event(session, at=now, actor=actor.name, action="request.issued",
                                        object_type="request", object_id=str(issued_request_id),
                                        company_id=request.company_id, details={"serial": serial},
                                        source_ip=actor.source_ip)

    committer.run(result)  # committed: the certificate may leave
    CERTIFICATES_ISSUED.labels(plan.profile.name).inc()
    ISSUANCE_SECONDS.labels(plan.profile.name).observe(time.perf_counter() - started)
    return IssuedCertificate(serial=serial, issuer=issuer.name, der=der, chain=(issuer.certificate, issuer.root),
                             request_id=request_id)


# --- a batch: one read, one intent commit and one result commit for N certificates (issue 14 §1) ------------
@dataclass(frozen=True)
class IssueRequest:
    """One certificate of `issue_many`: the arguments of `issue_certificate`, without a portal request."""

    csr_data: bytes | CheckedCSR
    user_email: str | None
    profile_name: str = "browser"
    days: int | None = None
    dns_names: tuple[str, ...] = ()
    issuer_name: str | None = None
    company_id: int | None = None
    request_id: int | None = None  # the portal request it is issued for (enrollment.requests.request_batcher)


@dataclass
class _Item:
    """A request of the batch that passed every check and is encoded from its shape's template."""

    index: int
    key: CheckedKey
    plan: _Plan
    fields: LeafFields
    key_ref: str
    request_id: int | None = None  # the portal request it is issued for (IssueRequest.request_id)
    serial_number: int = 0
    serial: str = ""  # its text (format_serial), as the ledger and the audit trail write it
    tbs: bytes = b""
    row_id: int = 0
    der: bytes = b""  # the signed certificate


def issue_many(runtime: Runtime, actor: Actor, requests: Sequence[IssueRequest]) -> list[IssuedCertificate | PKIError]:
    """`issue_certificate` for each request, its certificate or its own refusal in the same position.

    Group commit made explicit: the checks of every request, then one read-only transaction for their facts,
    one transaction with every intent row (committed before any key signs), each TBS signed and verified
    alone, then one transaction with every DER and its chained `certificate.issued` event — committed before
    any certificate is returned. Both transactions go through the ledger's group committer, so they also
    share their commit with concurrent callers. Each guarantee holds per certificate, and one bad request
    fails alone: a refused CSR, user or profile is its own PKIError and nothing of it is recorded; a serial
    collision rolls the intent transaction back whole and the batch draws again; an intent closed out
    meanwhile (`pkictl db check --close-pending`) makes the results be stored one by one, so only that one
    is refused. Values the template cannot encode exactly go through `issue_certificate` (the builder and
    pkilint on the whole certificate). An infrastructure failure (the ledger is down) raises, as in
    `issue_certificate`: then nothing is returned, and no certificate of the batch left without its row.

    With `ca.signing_processes` > 0 the public-key work — each CSR's proof of possession and key checks,
    each signature and its verification — runs in signing processes (ca.signing_pool), with the same
    checks; a key file's certificates are signed there, a PKCS#11 key's in this thread. A signing process
    that dies during the call raises WorkerLostError: nothing of the batch is returned, and intents already
    committed stay pending until `pkictl db check --close-pending` closes them out.
    """
    started = time.perf_counter()
    now = runtime.clock.now()
    lint = runtime.settings.ca.lint_before_sign
    out: list[IssuedCertificate | PKIError | None] = [None] * len(requests)
    pool = _signing_pool(runtime)
    checked = _check_requests(runtime, requests, pool, out)
    facts = issuance_reads.read_batch_facts(runtime.engine, [
        issuance_reads.FactsQuery(requests[index].user_email, key.spki_sha256, requests[index].issuer_name,
                                  requests[index].company_id) for index, key, _profile_ in checked])
    batch = _Batch(runtime, actor, now, lint)
    items: list[_Item] = []
    builder: list[int] = []
    for (index, key, profile), found in zip(checked, facts, strict=True):
        request = requests[index]
        try:
            if isinstance(found, NotFoundError):
                raise NotFoundError(str(found))
            plan = batch.plan(profile, request, found)
            fields = batch.fields(plan, key.family, request.dns_names)
            item = (_Item(index, key, plan, fields, found.issuer.key_ref, request.request_id)
                    if fields is not None else None)
            if item is not None and _encode(item):
                items.append(item)
            else:
                builder.append(index)
        except PKIError as error:
            out[index] = error
    if items:
        _issue_items(runtime, actor, items, pool, now, out=out)
    for index in builder:  # the template cannot encode these exactly: the builder pipeline, one by one
        request = requests[index]
        count_path(False)
        try:
            out[index] = issue_certificate(runtime, actor, csr_data=checked_csr(request.csr_data),
                                           user_email=request.user_email, profile_name=request.profile_name,
                                           days=request.days, dns_names=request.dns_names,
                                           issuer_name=request.issuer_name, company_id=request.company_id)
        except PKIError as error:
            out[index] = error
    if items:
        ISSUANCE_SECONDS.labels("batch").observe(time.perf_counter() - started)
    assert all(result is not None for result in out)
    return [result for result in out if result is not None]


def _signing_pool(runtime: Runtime) -> SigningPool | None:
    processes = runtime.settings.ca.signing_processes
    if processes <= 0:
        return None
    return pool_for(runtime, processes, runtime.settings.ca.passphrase_file)


def _check_requests(runtime: Runtime, requests: Sequence[IssueRequest], pool: SigningPool | None,
                    out: list[IssuedCertificate | PKIError | None]) -> list[tuple[int, CheckedKey, Profile]]:
    """Each request's CSR checked (in the signing processes when there are) and its profile and validity;
    a request refused for both gets its CSR's refusal, as in `issue_certificate`."""
    keys: list[CheckedKey | PKIError | None] = [None] * len(requests)
    to_pool: list[int] = []
    csrs: list[bytes] = []
    for index, request in enumerate(requests):
        data = request.csr_data
        if pool is not None and isinstance(data, bytes) and len(data) <= MAX_CSR_BYTES:
            to_pool.append(index)
            csrs.append(data)
            continue
        try:
            keys[index] = checked_key(checked_csr(data))
        except PKIError as error:
            keys[index] = error
    if to_pool:
        assert pool is not None
        try:
            pooled_keys = pool.check_csrs(csrs)
        except WorkerLostError as error:
            raise WorkerLostError(f"{error}: nothing of this batch was recorded") from None
        for index, pooled in zip(to_pool, pooled_keys, strict=True):
            keys[index] = pooled
    profiles: dict[tuple[str, int | None], Profile | PKIError] = {}
    checked: list[tuple[int, CheckedKey, Profile]] = []
    for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
        if isinstance(key, PKIError):
            out[index] = key
            continue
        assert key is not None
        memo = (request.profile_name, request.days)
        profile = profiles.get(memo)
        if profile is None:
            try:
                profile = _profile(runtime, request.profile_name, request.days)
            except PKIError as error:
                profile = error
            profiles[memo] = profile
        if isinstance(profile, PKIError):
            out[index] = profile
            continue
        checked.append((index, key, profile))
    return checked


class _Batch:
    """What the requests of one batch share, made once per call: the plan of each distinct (profile,
    validity, DNS names, user, company, issuer) — the facts' objects are shared by read_batch_facts — and
    the key-independent TBS bytes of each plan, key family and SAN (ca.x509.tbs_template.LeafFields)."""

    def __init__(self, runtime: Runtime, actor: Actor, now: datetime, lint: bool) -> None:
        self.runtime, self.actor, self.now, self.lint = runtime, actor, now, lint
        self._plans: dict[tuple[object, ...], _Plan] = {}
        self._fields: dict[tuple[object, ...], LeafFields | None] = {}
        self._urls: dict[str, RepositoryURLs] = {}

    def plan(self, profile: Profile, request: IssueRequest, found: issuance_reads.IssuanceFacts) -> _Plan:
        key = (id(profile), request.days, request.dns_names, id(found.user), id(found.company), id(found.issuer),
               found.key_blocked)
        plan = self._plans.get(key)
        if plan is None:  # a refusal is not kept: each request gets its own
            plan = self._plans[key] = _plan_from_facts(self.runtime, self.actor, profile, request.days, found,
                                                       request.dns_names)
        return plan

    def fields(self, plan: _Plan, family: str, dns_names: tuple[str, ...]) -> LeafFields | None:
        key = (id(plan), family, dns_names)
        if key in self._fields:
            return self._fields[key]
        urls = self._urls.get(plan.issuer.name)
        if urls is None:
            urls = self._urls[plan.issuer.name] = repository_urls(self.runtime.settings.repository.base_url,
                                                                  plan.issuer.name)
        shape = shape_for(shape_key(plan, plan.issuer, urls, family, bool(plan.emails or dns_names)),
                          lint=self.lint)
        fields = self._fields[key] = leaf_fields(shape, not_before=self.now, not_after=plan.not_after,
                                                 subject=plan.subject, emails=plan.emails, dns_names=dns_names)
        return fields


def _encode(item: _Item) -> bool:
    """A fresh serial and the item's TBS from its shape; False when the template cannot encode it."""
    item.serial_number = random_serial_number()
    item.serial = format_serial(item.serial_number)
    tbs = encode_with_key(item.fields, item.serial_number, item.key.spki_der, item.key.ski)
    if tbs is None:
        return False
    item.tbs = tbs
    return True


def _issue_items(runtime: Runtime, actor: Actor, items: list[_Item], pool: SigningPool | None, now: datetime, *,
                 out: list[IssuedCertificate | PKIError | None]) -> None:
    committer = committer_for(runtime.sessionmaker)
    # Transaction 1: every intent row, committed before any key signs.
    for _attempt in range(_SERIAL_ATTEMPTS):
        rows = [(  # in issuance_store.PENDING_COLUMNS order
            item.plan.issuer.id, item.serial, CertificateStatus.PENDING, item.plan.profile.name,
            _subject_text(item.plan.subject), now, item.plan.not_after, item.key.spki_sha256,
            item.plan.user.id if item.plan.user else None, item.plan.company.id if item.plan.company else None,
            item.request_id, now, None) for item in items]
        try:
            row_ids = committer.run(lambda session, rows=rows: issuance_store.insert_pending_many(session, rows))  # type: ignore[misc]
            break
        except SerialCollisionError:  # nothing of the batch was recorded: every item draws again
            for item in items:
                if not _encode(item):
                    raise SigningError("the template refused values it had encoded; nothing was signed") from None
    else:
        for item in items:
            out[item.index] = ConflictError("could not draw a unique serial number; nothing was signed")
        return
    for item, row_id in zip(items, row_ids, strict=True):
        item.row_id = row_id
    # Sign each committed intent; the signature is verified over exactly the encoded bytes (sign_tbs_der).
    signed = _sign_items(items, pool, out)
    # Transaction 2: every DER and its chained event; only then may the certificates leave.
    try:
        committer.run(lambda session: _store_results(session, actor, signed, now))
        stored = signed
    except ConflictError:  # an intent was closed out meanwhile: store one by one, refuse only that one
        stored = []
        for item in signed:
            try:
                committer.run(lambda session, item=item: _store_results(session, actor, [item], now))  # type: ignore[misc]
                stored.append(item)
            except ConflictError as error:
                out[item.index] = error
    issued: Counter[str] = Counter()
    for item in stored:
        issuer = item.plan.issuer
        issued[item.plan.profile.name] += 1
        out[item.index] = IssuedCertificate(serial=item.serial, issuer=issuer.name, der=item.der,
                                            chain=(issuer.certificate, issuer.root))
    for profile_name, count in issued.items():
        CERTIFICATES_ISSUED.labels(profile_name).inc(count)
    count_path(True, len(signed))


def _sign_items(items: list[_Item], pool: SigningPool | None,
                out: list[IssuedCertificate | PKIError | None]) -> list[_Item]:
    """Each item's TBS signed — by the signing processes for a key file when there are, else in this thread —
    its signature verified over exactly those bytes; a refusal is the item's own (its intent stays pending,
    as in issue_certificate: db check closes it out)."""
    signed: list[_Item] = []
    groups: dict[tuple[str, int], list[_Item]] = {}
    for item in items:
        groups.setdefault((item.key_ref, id(item.plan.issuer.certificate)), []).append(item)
    for (key_ref, _certificate), group in groups.items():
        issuer = group[0].plan.issuer
        if pool is None or not key_ref.startswith("file:"):
            verify_key = ca_public_key(issuer.certificate.public_key())  # as a signing process does
            for item in group:
                try:
                    item.der = sign_tbs_der(item.tbs, issuer.signer, verify_key)
                except PKIError as error:
                    out[item.index] = error
                    continue
                signed.append(item)
            continue
        try:
            results = pool.sign(key_ref, issuer_spki(issuer.certificate), [item.tbs for item in group])
        except WorkerLostError as error:
            raise WorkerLostError(f"{error}: nothing of this batch was returned; its {len(items)} intents stay "
                                  "pending until `pkictl db check --close-pending` closes them out") from None
        for item, result in zip(group, results, strict=True):
            if isinstance(result, PKIError):
                out[item.index] = result
                continue
            if not starts_sequence_with(result, item.tbs):  # the certificate carries exactly the recorded TBS
                out[item.index] = SigningError("a signing process returned a certificate that does not carry "
                                               "the encoded TBS bytes; nothing was issued")
                continue
            item.der = result
            signed.append(item)
    return signed


def _store_results(session: Session, actor: Actor, items: list[_Item], now: datetime) -> None:
    issuance_store.mark_issued_many(session, [(item.row_id, item.der) for item in items])
    details: dict[int, dict[str, str | None]] = {}  # one dict per plan: append_events encodes each once
    for item in items:
        if id(item.plan) not in details:
            plan = item.plan
            details[id(plan)] = {"issuer": plan.issuer.name, "profile": plan.profile.name,
                                 "user": plan.user.email if plan.user else None,
                                 "subject": _subject_text(plan.subject)}
    issuance_store.append_events(session, [{
        "at": now, "actor": actor.name, "action": "certificate.issued", "object_type": "certificate",
        "object_id": item.serial,
        "company_id": item.plan.company.id if item.plan.company else None,
        "details": details[id(item.plan)], "source_ip": actor.source_ip,
    } for item in items])
    request_batch_store.mark_requests_issued(  # their portal requests turn `issued` in this same commit
        session, actor, [(item.row_id, format_serial(item.serial_number)) for item in items], now)
