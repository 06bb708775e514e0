"""CSR uploads of concurrent callers recorded and issued together (issue 14 §1, DESIGN §4).

Each caller checks its own CSR (its proof of possession and key, ca.x509.csr) in its own thread, then hands
it here and waits. The first caller to find nobody at work becomes the batch's leader (leader/follower, as
ca.ledger.group_commit: no thread of its own, no hand-off) and takes every upload waiting:

1. one transaction: each requester re-read with their company's approval policy, the batch's blocked keys,
   and every request row with its `request.created` event — `approved` under the `auto` policy, `pending`
   under `manual` (the policy as committed when the request is recorded);
2. the `auto` ones through `ca.issuance.issue_many`, per actor (the audit trail names each caller): one
   read of the facts, one commit of the intents (carrying their request ids), each TBS signed and its
   signature verified, one commit of the certificates in which ca.ledger.request_batch_store marks their
   requests `issued`;
3. a request the CA refused after it was recorded is marked `failed` with the reason, in one transaction.

Only then is each caller woken with its own outcome: a certificate leaves only once the commit holding it is
done, and one bad upload fails alone with its own error (a 4xx). A failure of the ledger itself reaches every
caller of the batch, as it would reach each of them alone.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ca.actor import Actor
from ca.combining import Combiner
from ca.errors import BadCSRError, NotAuthorizedError
from ca.issuance import MAX_COMMENT, IssuedCertificate, IssueRequest, issue_many
from ca.ledger import Session, SessionFactory, request_batch_store
from ca.ledger.group_commit import committer_for
from ca.ledger.issuance_store import append_events
from ca.ledger.request_batch_store import Failure, Member, NewRequest
from ca.ledger.session_reads import read_sessions_in
from ca.runtime import Runtime
from ca.settings import PortalSettings
from ca.vocabulary import ActorKind, RequestStatus, UserStatus
from ca.x509.csr import CheckedCSR
from enrollment.accounts.sessions import fresh_principal, token_digest
from enrollment.requests.views import RequestOutcome, RequestView

PROFILE = "browser"
NO_COMPANY = "you must belong to a company to request certificates: ask your company's administrator"
BLOCKED_KEY = "this public key is blocked (reported compromised); generate a new key"
MAX_BATCH = 256


@dataclass
class _Upload:
    actor: Actor | None  # None: the actor of the session `session_digest`, read in step 1
    csr: CheckedCSR
    session_digest: str | None = None
    source_ip: str | None = None
    stale: bool = False  # that session is not one to resume without a write: nothing recorded
    done: bool = False
    outcome: RequestOutcome | None = None
    error: BaseException | None = None
    # filled while the batch is recorded
    member: Member | None = None
    request_id: int | None = None
    auto: bool = False


_BATCHERS: weakref.WeakKeyDictionary[SessionFactory, Combiner[_Upload]] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def _batcher_for(runtime: Runtime) -> Combiner[_Upload]:
    with _BATCHERS_LOCK:
        batcher = _BATCHERS.get(runtime.sessionmaker)
        if batcher is None:
            batcher = _BATCHERS[runtime.sessionmaker] = Combiner(MAX_BATCH)
        return batcher


def batch_counts(runtime: Runtime) -> tuple[int, int]:
    """(batches, uploads) handled so far in this process for this ledger."""
    batcher = _batcher_for(runtime)
    return batcher.batches, batcher.items


def submit(runtime: Runtime, actor: Actor, csr: CheckedCSR) -> RequestOutcome:
    """The request of `actor` for this checked CSR, recorded under its company's policy and, under `auto`,
    issued; returns once every row of it is committed (or raises its own PKIError)."""
    if actor.kind != ActorKind.USER or actor.company_id is None or actor.user_id is None:
        raise NotAuthorizedError(NO_COMPANY)
    upload = _Upload(actor, csr)
    _batcher_for(runtime).join(upload, lambda batch: _run(runtime, batch))
    if upload.error is not None:
        raise upload.error
    assert upload.outcome is not None
    return upload.outcome


def submit_for_session(runtime: Runtime, token: str, csr: CheckedCSR, *, source_ip: str | None,
                       ) -> RequestOutcome | None:
    """`submit` for the person of a session token, whose session is read in the transaction that records
    the batch, by the rule of a request's session check (enrollment.accounts.sessions.fresh_principal):
    one statement for the whole batch instead of one read per call. None, with nothing recorded, when the
    session is not live and fresh or its person may not request: the caller then takes the long way
    (resume_session, which touches, ends or refuses it)."""
    upload = _Upload(None, csr, session_digest=token_digest(token), source_ip=source_ip)
    _batcher_for(runtime).join(upload, lambda batch: _run(runtime, batch))
    if upload.error is not None:
        raise upload.error
    if upload.stale:
        return None
    assert upload.outcome is not None
    return upload.outcome


def _run(runtime: Runtime, batch: list[_Upload]) -> None:
    """The batch's three steps; an error outside any one upload's own (the ledger is down) reaches all."""
    try:
        now = runtime.clock.now()
        committer = committer_for(runtime.sessionmaker)
        committer.run(lambda session: _record(session, batch, now, runtime.settings.portal))
        auto = [upload for upload in batch if upload.error is None and upload.auto and not upload.stale]
        failures: list[Failure] = []
        for actor, uploads in _by_actor(auto).items():
            results = issue_many(runtime, actor, [
                IssueRequest(csr_data=upload.csr, user_email=_member(upload).email, profile_name=PROFILE,
                             request_id=upload.request_id) for upload in uploads])
            for upload, result in zip(uploads, results, strict=True):
                if isinstance(result, IssuedCertificate):
                    upload.outcome = RequestOutcome(_view(upload, RequestStatus.ISSUED, now, now, result.serial),
                                                    serial=result.serial)
                else:
                    upload.error = result
                    failures.append(Failure(actor, _request_id(upload), _company_id(upload), str(result)))
        _link_builder_issued(runtime, auto, now)
        if failures:
            committer.run(lambda session: request_batch_store.mark_requests_failed(
                session, failures, now, max_comment=MAX_COMMENT))
    except Exception as error:  # noqa: BLE001 - handed to every caller still without an answer, raised there
        for upload in batch:
            if upload.error is None:
                upload.outcome, upload.error, upload.stale = None, error, False


def _record(session: Session, batch: list[_Upload], now: datetime, settings: PortalSettings) -> None:
    """Step 1, inside one transaction of the group committer: an upload refused here records nothing."""
    sessions = read_sessions_in(session, (u.session_digest for u in batch if u.session_digest))
    for upload in batch:
        upload.error, upload.request_id, upload.outcome = None, None, None  # a replayed transaction starts over
        if upload.session_digest is not None:
            principal = fresh_principal(sessions.get(upload.session_digest), now, settings, upload.source_ip)
            upload.stale = principal is None or not principal.may_request
            upload.actor = None if principal is None or upload.stale else principal.actor
    live = [upload for upload in batch if not upload.stale]
    members = request_batch_store.read_members(session, (_actor(u).user_id or 0 for u in live))
    blocked = request_batch_store.blocked_among(session, (u.csr.spki_sha256 for u in live))
    recorded: list[_Upload] = []
    for upload in live:
        actor = _actor(upload)
        member = members.get(actor.user_id or 0)
        if (member is None or member.status != UserStatus.ACTIVE or member.company_id is None
                or member.company_id != actor.company_id):
            upload.error = NotAuthorizedError(NO_COMPANY)
        elif upload.csr.spki_sha256 in blocked:
            upload.error = BadCSRError(BLOCKED_KEY)
        else:
            upload.member, upload.auto = member, member.approval_policy != "manual"
            recorded.append(upload)
    ids = request_batch_store.insert_requests(session, [
        NewRequest(user_id=_member(u).id, company_id=_company_id(u), csr_der=u.csr.der,
                   status=RequestStatus.APPROVED if u.auto else RequestStatus.PENDING) for u in recorded],
        profile=PROFILE, at=now)
    for upload, request_id in zip(recorded, ids, strict=True):
        upload.request_id = request_id
        if not upload.auto:
            upload.outcome = RequestOutcome(_view(upload, RequestStatus.PENDING, now, None, None))
    append_events(session, [{
        "at": now, "actor": _actor(u).name, "action": "request.created", "object_type": "request",
        "object_id": str(u.request_id), "company_id": _company_id(u),
        "details": {"kind": "csr", "policy": _member(u).approval_policy}, "source_ip": _actor(u).source_ip,
    } for u in recorded])


def _link_builder_issued(runtime: Runtime, auto: list[_Upload], now: datetime) -> None:
    """`issue_many` issues a certificate its template cannot encode exactly through `issue_certificate`,
    which knows nothing of the request: such a request is still `approved` after the batch (one read-only
    statement tells), and is linked to its certificate and marked `issued` here, before its caller hears."""
    issued = {u.request_id: u for u in auto if u.error is None and u.outcome is not None and u.request_id}
    if not issued:
        return
    left = request_batch_store.still_approved(runtime.engine, list(issued))
    if not left:
        return
    with runtime.sessionmaker.begin() as session:
        request_batch_store.link_issued(session, [
            (request_id, _company_id(issued[request_id]), _actor(issued[request_id]),
             issued[request_id].outcome.serial or "")  # type: ignore[union-attr]
            for request_id in left], now)


def _by_actor(uploads: Sequence[_Upload]) -> dict[Actor, list[_Upload]]:
    groups: dict[Actor, list[_Upload]] = {}
    for upload in uploads:
        groups.setdefault(_actor(upload), []).append(upload)
    return groups


def _actor(upload: _Upload) -> Actor:
    assert upload.actor is not None
    return upload.actor


def _member(upload: _Upload) -> Member:
    assert upload.member is not None
    return upload.member


def _company_id(upload: _Upload) -> int:
    company_id = _actor(upload).company_id
    assert company_id is not None
    return company_id


def _request_id(upload: _Upload) -> int:
    assert upload.request_id is not None
    return upload.request_id


def _view(upload: _Upload, status: str, created_at: datetime, decided_at: datetime | None,
          serial: str | None) -> RequestView:
    """The request as just committed, from the values written (no read-back)."""
    member = _member(upload)
    return RequestView(id=_request_id(upload), user=member.email, user_name=member.full_name, kind="csr",
                       status=status, comment=None, created_at=created_at, decided_at=decided_at,
                       certificate_serial=serial)
