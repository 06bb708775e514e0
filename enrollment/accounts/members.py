"""A company's people as its administrators see them: list, approve or refuse a person who asked to join,
detach a person.

Detaching is one transaction: the person leaves the company and its groups, their sessions end, their
waiting requests close, and every certificate of theirs for that company is revoked with reason
affiliationChanged (RFC 5280 §5.3.1), each with its audit event. The OCSP answers are re-signed after
the commit (best effort, as revocation.revoke does); the gate reads the ledger, so access stops at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ca.actor import Actor
from ca.errors import BadRequestError, NotAuthorizedError, NotFoundError
from ca.ledger import Session, portal_store, store
from ca.ledger.audit import append_event
from ca.ledger.models import User
from ca.revoke import announce_revocations, revoke_in_session
from ca.runtime import RevokedSerial, Runtime
from ca.scope import one_company
from ca.vocabulary import Role, UserStatus
from enrollment.accounts.views import MemberView, member_view
from enrollment.mail import send_mail
from enrollment.words import recipient_words

DETACH_REASON = "affiliationChanged"


@dataclass(frozen=True)
class DetachReport:
    member: MemberView
    revoked: list[str] = field(default_factory=list)


def _company_scope(session: Session, actor: Actor, company_eic: str | None) -> int:
    return one_company(session, actor, company_eic, refusal="only a company administrator may see the company's people")


def _member(session: Session, company_id: int, user_id: int) -> User:
    user = portal_store.get_user(session, user_id) if user_id else None
    if user is None or user.company_id != company_id:
        raise NotFoundError(f"no user #{user_id} in your company")
    return user


def list_members(runtime: Runtime, actor: Actor, *, company_eic: str | None = None) -> list[MemberView]:
    with runtime.sessionmaker() as session:
        company_id = _company_scope(session, actor, company_eic)
        eic = store.get_company(session, company_id).eic
        views = []
        for user in portal_store.list_company_users(session, company_id):
            live = len(portal_store.list_live_user_certificates(session, user_id=user.id, company_id=company_id))
            views.append(member_view(user, eic, live))
        return views


def decide_membership(runtime: Runtime, actor: Actor, *, user_id: int, approve: bool) -> MemberView:
    """A person who signed up naming the company (status `pending`) is let in, or sent away."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        company_id = _company_scope(session, actor, None)
        user = _member(session, company_id, user_id)
        if user.status != UserStatus.PENDING:
            raise BadRequestError(f"{user.email} is not waiting for approval")
        company = store.get_company(session, company_id)
        if approve:
            portal_store.mark_user(session, user, status=UserStatus.ACTIVE, role=Role.USER)
        else:
            portal_store.mark_user(session, user, status=UserStatus.ACTIVE, company_id=None)
        append_event(session, at=now, actor=actor.name,
                     action="user.membership_approved" if approve else "user.membership_refused",
                     object_type="user", object_id=user.email, company_id=company_id, source_ip=actor.source_ip)
        view = member_view(user, company.eic if approve else None)
        target, company_name = (user.email, user.full_name, user.locale), company.name
    _ = recipient_words(target[2], runtime.settings.portal.default_locale).gettext
    verdict = (_("An administrator of %(company)s accepted you in the company on the certificate portal.") if approve
               else _("An administrator of %(company)s did not accept your request to join the company on the "
                      "certificate portal."))
    send_mail(runtime.settings.portal, to=target[0],
              subject=_("%(company)s: your request to join") % {"company": company_name},
              body=_("Hello %(name)s,") % {"name": target[1]} + "\n\n" + verdict % {"company": company_name} + "\n")
    return view


def _check_may_detach(actor: Actor, user: User) -> None:
    if actor.user_id == user.id:
        raise BadRequestError("you cannot detach yourself; ask another administrator")
    if actor.is_operator:
        return
    if user.role == Role.FIRST_ADMIN:
        raise NotAuthorizedError("only a CA operator may detach the first administrator")
    if user.role == Role.ADMIN and actor.role != Role.FIRST_ADMIN:
        raise NotAuthorizedError("only the first administrator may detach an administrator")


def preview_detach(runtime: Runtime, actor: Actor, *, user_id: int,
                   company_eic: str | None = None) -> tuple[MemberView, list[str]]:
    """The person and the serials a detachment would revoke, for the confirmation page."""
    with runtime.sessionmaker() as session:
        company_id = _company_scope(session, actor, company_eic)
        user = _member(session, company_id, user_id)
        _check_may_detach(actor, user)
        serials = [c.serial for c in portal_store.list_live_user_certificates(session, user_id=user.id,
                                                                              company_id=company_id)]
        return member_view(user, store.get_company(session, company_id).eic, len(serials)), serials


def detach_user(runtime: Runtime, actor: Actor, *, user_id: int, company_eic: str | None = None) -> DetachReport:
    now = runtime.clock.now()
    revoked: list[RevokedSerial] = []
    with runtime.sessionmaker.begin() as session:
        company_id = _company_scope(session, actor, company_eic)
        user = _member(session, company_id, user_id)
        _check_may_detach(actor, user)
        for record in portal_store.list_live_user_certificates(session, user_id=user.id, company_id=company_id):
            revoked.append(revoke_in_session(session, runtime, actor, record, DETACH_REASON,
                                             cause=f"{user.email} detached from the company"))
        groups = portal_store.remove_user_from_groups(session, user.id)
        closed = portal_store.reject_open_requests(session, user_id=user.id, company_id=company_id, at=now,
                                                   comment="the requester left the company")
        portal_store.end_user_sessions(session, user.id, now)
        portal_store.mark_tokens_used(session, user.id, now)
        former_role = user.role
        portal_store.mark_user(session, user, company_id=None, role=Role.USER,
                               status=UserStatus.ACTIVE if user.password_hash else UserStatus.INVITED)
        append_event(session, at=now, actor=actor.name, action="user.detached", object_type="user",
                     object_id=user.email, company_id=company_id,
                     details={"role": former_role, "revoked": [s for _, s in revoked], "groups_left": groups,
                              "requests_closed": closed},
                     source_ip=actor.source_ip)
        view = member_view(user, None)
    announce_revocations(runtime, revoked)
    return DetachReport(member=view, revoked=[s for _, s in revoked])
