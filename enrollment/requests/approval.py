"""Certificate requests under the company's approval policy (issue 4).

A request is recorded first (`pending` when an administrator must decide, `approved` under the `auto`
policy), then issued through enrollment.issuance (DESIGN §4) and marked `issued`; a refusal by the CA
after recording marks it `failed` with the reason. Two kinds: a CSR upload (the key stays with the person)
and server-side key generation (enrollment.keygen), whose key only exists while the PKCS#12 is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ca.actor import Actor
from ca.errors import BadCSRError, BadRequestError, NotAuthorizedError
from ca.issuance import MAX_COMMENT, ForRequest, IssuedCertificate, issue_certificate
from ca.ledger import Session, portal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import CertificateRequest, Company, User
from ca.ledger.request_reads import read_company_request
from ca.runtime import Runtime
from ca.scope import find_company, one_company, own_company
from ca.vocabulary import ActorKind, RequestStatus, UserStatus
from ca.x509.csr import CheckedCSR, checked_csr
from enrollment.accounts.views import Principal
from enrollment.mail import send_mail
from enrollment.requests.request_batcher import submit
from enrollment.requests.views import RequestOutcome, RequestView
from enrollment.words import recipient_words

POLICIES = ("auto", "manual")
NO_COMPANY = "you must belong to a company to request certificates: ask your company's administrator"


@dataclass(frozen=True)
class Recorded:
    view: RequestView
    auto: bool
    email: str
    full_name: str
    company_name: str


def request_view(request: CertificateRequest, user: User, serial: str | None = None) -> RequestView:
    return RequestView(id=request.id, user=user.email, user_name=user.full_name,
                       kind="csr" if request.csr_der is not None else "keygen", status=request.status,
                       comment=request.comment, created_at=request.created_at, decided_at=request.decided_at,
                       certificate_serial=serial)


def member_of_company(session: Session, actor: Actor) -> tuple[User, Company]:
    """The requester: an active member of a company (a pending or company-less person may not request)."""
    if actor.kind != ActorKind.USER or actor.company_id is None or actor.user_id is None:
        raise NotAuthorizedError(NO_COMPANY)
    user = portal_store.get_user(session, actor.user_id)
    if user.company_id != actor.company_id or user.status != UserStatus.ACTIVE:
        raise NotAuthorizedError(NO_COMPANY)
    return user, store.get_company(session, actor.company_id)


def record_request(runtime: Runtime, actor: Actor, *, csr: CheckedCSR | None,
                   before_auto: Callable[[], object] | None = None) -> Recorded:
    """The request row under the company's policy, and its audit event (a CSR whose key is blocked is refused
    before anything is recorded)."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        user, company = member_of_company(session, actor)
        if csr is not None and store.is_key_blocked(session, csr.spki_sha256):
            raise BadCSRError("this public key is blocked (reported compromised); generate a new key")
        auto = company.approval_policy != "manual"
        if auto and before_auto is not None:
            before_auto()
        request = portal_store.add_request(session, user_id=user.id, company_id=company.id, profile="browser",
                                           csr_der=csr.der if csr else None,
                                           status=RequestStatus.APPROVED if auto else RequestStatus.PENDING, at=now)
        append_event(session, at=now, actor=actor.name, action="request.created", object_type="request",
                     object_id=str(request.id), company_id=company.id,
                     details={"kind": "csr" if csr else "keygen", "policy": company.approval_policy},
                     source_ip=actor.source_ip)
        return Recorded(view=request_view(request, user), auto=auto, email=user.email, full_name=user.full_name,
                        company_name=company.name)


def issue_for_request(runtime: Runtime, actor: Actor, *, request_id: int, company_id: int,
                      csr_data: bytes | CheckedCSR, user_email: str,
                      predecessor_id: int | None = None) -> IssuedCertificate:
    """Issue for a recorded request (ca.issuance marks it `issued`, or `failed` with the reason); a renewal
    names the certificate it succeeds."""
    return issue_certificate(runtime, actor, csr_data=csr_data, user_email=user_email, profile_name="browser",
                             request=ForRequest(company_id=company_id, request_id=request_id,
                                                predecessor_id=predecessor_id))


def request_certificate(runtime: Runtime, actor: Actor, *, csr_data: bytes,
                        requester: Principal | None = None) -> RequestOutcome:
    """CSR upload: the CSR is checked once (its proof of possession, RFC 2986 §3), in the caller's thread and
    before anything is recorded, so a bad CSR changes nothing. Then enrollment.requests.request_batcher
    records it under the company's policy as committed at that moment — `pending` under `manual`; under
    `auto` recorded `approved` and issued — together with the uploads of concurrent callers, each of which
    still gets only its own outcome or its own refusal.

    `requester` (the caller's Principal of this request) is accepted for the callers that have it; the
    requester and the policy are read again where the request is recorded, so it is not needed."""
    del requester
    return submit(runtime, actor, checked_csr(csr_data))


def _reload(runtime: Runtime, company_id: int, request_id: int) -> RequestView:
    """The request as committed, in one statement (ca.ledger.request_reads)."""
    facts = read_company_request(runtime.engine, company_id, request_id)
    return RequestView(id=facts.id, user=facts.user_email, user_name=facts.user_name,
                       kind="csr" if facts.has_csr else "keygen", status=facts.status, comment=facts.comment,
                       created_at=facts.created_at, decided_at=facts.decided_at,
                       certificate_serial=facts.certificate_serial)


def _views(session: Session, requests: list[CertificateRequest]) -> list[RequestView]:
    serials = portal_store.list_request_certificates(session, [r.id for r in requests])
    users: dict[int, User] = {}
    views = []
    for request in requests:
        if request.user_id not in users:
            users[request.user_id] = portal_store.get_user(session, request.user_id)
        views.append(request_view(request, users[request.user_id], serials.get(request.id)))
    return views


def list_my_requests(runtime: Runtime, actor: Actor) -> list[RequestView]:
    if actor.company_id is None or actor.user_id is None:
        return []
    with runtime.sessionmaker() as session:
        return _views(session, portal_store.list_requests(session, company_id=actor.company_id,
                                                          user_id=actor.user_id))


def list_company_requests(runtime: Runtime, actor: Actor, *, status: str | None = "pending") -> list[RequestView]:
    company_id = own_company(actor, "only a company administrator sees the company's requests")
    with runtime.sessionmaker() as session:
        return _views(session, portal_store.list_requests(session, company_id=company_id, status=status))


def _clean_comment(comment: str | None, *, required: bool) -> str | None:
    comment = " ".join((comment or "").split()) or None
    if required and not comment:
        raise BadRequestError("say why in a comment: the requester will read it")
    if comment and len(comment) > MAX_COMMENT:
        raise BadRequestError(f"the comment is limited to {MAX_COMMENT} characters")
    return comment


def decide_request(runtime: Runtime, actor: Actor, *, request_id: int, approve: bool,
                   comment: str | None = None, company_eic: str | None = None) -> RequestView:
    """An administrator approves (a CSR is then issued at once; a key-generation request waits for its
    requester to collect it) or rejects with a comment. Nobody decides their own request: another
    administrator of the company does, or an operator (naming the company), who is the only one left
    when the company has a single administrator (issue 13 finding 4)."""
    if not actor.is_operator:
        own_company(actor, "only a company administrator decides on requests")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company_id = one_company(session, actor, company_eic,
                                 refusal="only a company administrator decides on requests")
        request = portal_store.get_company_request(session, company_id, request_id)
        if actor.user_id is not None and request.user_id == actor.user_id:
            raise NotAuthorizedError("you may not decide your own request: another administrator of the company "
                                     "or a CA operator decides it")
        comment = _clean_comment(comment, required=not approve)
        if request.status != RequestStatus.PENDING:
            raise BadRequestError(f"request #{request_id} is {request.status}, not pending")
        requester = portal_store.get_user(session, request.user_id)
        if approve and (requester.status != UserStatus.ACTIVE or requester.company_id != company_id):
            raise BadRequestError(f"{requester.email} is no longer an active member of the company")
        portal_store.mark_request(session, request, status=RequestStatus.APPROVED if approve else "rejected", at=now,
                                  comment=comment)
        append_event(session, at=now, actor=actor.name,
                     action="request.approved" if approve else "request.rejected", object_type="request",
                     object_id=str(request_id), company_id=company_id, details={"comment": comment},
                     source_ip=actor.source_ip)
        csr_der, email, name, locale = request.csr_der, requester.email, requester.full_name, requester.locale
    if approve and csr_der is not None:
        issue_for_request(runtime, actor, request_id=request_id, company_id=company_id, csr_data=csr_der,
                          user_email=email)
    _tell_requester(runtime, (email, name, locale), request_id, approve, csr_der is None, comment)
    return _reload(runtime, company_id, request_id)


def _tell_requester(runtime: Runtime, requester: tuple[str, str, str | None], request_id: int, approve: bool,
                    keygen: bool, comment: str | None) -> None:
    """The requester (e-mail, name, saved language) learns the decision, in that language."""
    email, name, locale = requester
    _ = recipient_words(locale, runtime.settings.portal.default_locale).gettext
    base = runtime.settings.portal.base_url.rstrip("/")
    if not approve:
        text = _("Your certificate request #%(id)s was rejected by an administrator: %(comment)s.")
    elif keygen:
        text = _("Your certificate request #%(id)s was approved. Collect your certificate (choose its password "
                 "and download it) at %(url)s.")
    else:
        text = _("Your certificate request #%(id)s was approved and your certificate is ready at %(url)s.")
    page = f"{base}/requests" if keygen else f"{base}/certificates"
    body = text % {"id": request_id, "comment": comment, "url": page}
    send_mail(runtime.settings.portal, to=email, subject=_("Certificate request #%(id)s") % {"id": request_id},
              body=_("Hello %(name)s,") % {"name": name} + f"\n\n{body}\n")


def set_approval_policy(runtime: Runtime, actor: Actor, *, policy: str, company_eic: str | None = None) -> str:
    """The first administrator (or an operator) chooses: every request approved at once, or one by one."""
    if policy not in POLICIES:
        raise BadRequestError(f"unknown approval policy {policy!r}; choose one of {', '.join(POLICIES)}")
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        if actor.is_operator and company_eic:
            company = find_company(session, company_eic)
        elif actor.is_first_admin and actor.company_id is not None:
            company = store.get_company(session, actor.company_id)
        else:
            raise NotAuthorizedError("only the first administrator chooses the approval policy")
        if company.approval_policy != policy:
            previous = company.approval_policy
            portal_store.mark_company_policy(session, company, policy)
            append_event(session, at=now, actor=actor.name, action="company.policy_changed",
                         object_type="company", object_id=company.eic, company_id=company.id,
                         details={"from": previous, "to": policy}, source_ip=actor.source_ip)
        return company.approval_policy
