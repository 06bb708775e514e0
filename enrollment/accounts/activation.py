"""Activation links: an administrator (or an operator) adds a person, who sets a password from the e-mailed
link; the same machinery confirms self-signed-up addresses and resets forgotten passwords.

A link is a 256-bit random token; the ledger keeps its SHA-256 only. It works once, expires after
`portal.activation_hours`, and sending a new one retires the older ones.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ca.actor import Actor
from ca.errors import BadRequestError, NotAuthorizedError, NotFoundError, TooManyRequestsError
from ca.ledger import Session, portal_store, store
from ca.ledger.audit import append_event, count_events
from ca.ledger.models import User
from ca.ledger.portal_models import ActivationToken
from ca.runtime import Runtime
from ca.scope import find_company
from ca.vocabulary import Role, UserStatus
from enrollment.accounts.passwords import check_password_rules, hash_password
from enrollment.accounts.sessions import token_digest
from enrollment.accounts.users import validate_email, validate_full_name
from enrollment.accounts.views import MemberView, member_view
from enrollment.mail import send_mail
from enrollment.words import recipient_words

LINK_INVALID = "this link is not valid any more (used, replaced or expired): ask for a new one"
COMPANY_ROLES = (Role.FIRST_ADMIN, Role.ADMIN, Role.USER)
RESENDS_PER_HOUR = 3  # each re-send mails the invited person (issue 13 finding 8), counted in the audit trail


@dataclass(frozen=True)
class Invitation:
    member: MemberView
    expires_at: datetime
    mail_sent: bool


@dataclass(frozen=True)
class LinkInfo:
    """What the link page shows before anything changes (GET never changes state)."""

    email: str
    full_name: str
    purpose: str  # activate | confirm | reset
    expires_at: datetime


def link_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.settings.portal.base_url.rstrip('/')}/activate/{token}"


def new_link(session: Session, runtime: Runtime, user: User, purpose: str) -> tuple[str, datetime]:
    """Retire the user's older links and record a new one; returns (token, expiry)."""
    now = runtime.clock.now()
    expires_at = now + timedelta(hours=runtime.settings.portal.activation_hours)
    token = secrets.token_urlsafe(32)
    portal_store.mark_tokens_used(session, user.id, now)
    portal_store.add_token(session, token_sha256=token_digest(token), user_id=user.id,
                           purpose=purpose, at=now, expires_at=expires_at)
    return token, expires_at


def N_(text: str) -> str:
    """Marks a text for the catalogs; the mail is written in its recipient's language (enrollment.words)."""
    return text


_SUBJECTS = {
    "activate": N_("Your access to the certificate portal"),
    "confirm": N_("Confirm your e-mail address for the certificate portal"),
    "reset": N_("Choose a new password for the certificate portal"),
}
_INTROS = {
    "activate": N_("An account was opened for you on the certificate portal.\nOpen this link to choose your password:"),
    "confirm": N_("Someone (hopefully you) signed up on the certificate portal with this address.\n"
                  "Open this link to confirm it:"),
    "reset": N_("A new password was asked for your account on the certificate portal.\nOpen this link to choose it:"),
}
_INTRO_FOR_COMPANY = N_("An account was opened for you on the certificate portal for %(company)s.\n"
                        "Open this link to choose your password:")


def mail_link(runtime: Runtime, *, email: str, full_name: str, token: str, purpose: str, expires_at: datetime,
              company_name: str | None = None, locale: str | None = None) -> bool:
    """The link's e-mail in `locale` (the recipient's saved choice, or the page's), else the site default."""
    _ = recipient_words(locale, runtime.settings.portal.default_locale).gettext
    intro = (_(_INTRO_FOR_COMPANY) % {"company": company_name} if purpose == "activate" and company_name
             else _(_INTROS[purpose]))
    body = (_("Hello %(name)s,") % {"name": full_name} + f"\n\n{intro}\n\n    {link_url(runtime, token)}\n\n"
            + _("The link works once and expires on %(when)s UTC.") % {"when": f"{expires_at:%Y-%m-%d %H:%M}"}
            + "\n" + _("If you did not expect this message, ignore it: nothing happens without the link.") + "\n")
    return send_mail(runtime.settings.portal, to=email, subject=_(_SUBJECTS[purpose]), body=body)


def tell_admins_of_join(runtime: Runtime, admins: list[tuple[str, str, str | None]], who: str) -> None:
    """Each administrator (e-mail, name, saved language) learns that `who` asks to join the company."""
    users_page = f"{runtime.settings.portal.base_url.rstrip('/')}/admin/users"
    for email, name, locale in admins:
        _ = recipient_words(locale, runtime.settings.portal.default_locale).gettext
        send_mail(runtime.settings.portal, to=email, subject=_("A person asks to join your company"),
                  body=_("Hello %(name)s,") % {"name": name} + "\n\n"
                  + _("%(who)s asks to join your company on the certificate portal.") % {"who": who} + "\n"
                  + _("Approve or refuse on the Users page: %(url)s") % {"url": users_page} + "\n")


def _check_may_invite(actor: Actor, role: str, company_id: int) -> None:
    if role not in COMPANY_ROLES:
        raise BadRequestError(f"unknown role {role!r}; choose one of {', '.join(COMPANY_ROLES)}")
    if actor.is_operator:
        return
    if not actor.is_company_admin or actor.company_id != company_id:
        raise NotAuthorizedError("only an administrator of the company may add people to it")
    if role == Role.FIRST_ADMIN or (role == Role.ADMIN and actor.role != Role.FIRST_ADMIN):
        raise NotAuthorizedError(f"you may not add a person with the role {role}")


def invite_user(
    runtime: Runtime, actor: Actor, *, email: str, full_name: str, role: str = Role.USER, company_eic: str | None = None
) -> Invitation:
    """Create the account (`invited`, no password) and e-mail the activation link."""
    email = validate_email(email)
    full_name = validate_full_name(full_name)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        if company_eic:
            company = find_company(session, company_eic)
        elif actor.company_id is not None:
            company = store.get_company(session, actor.company_id)
        else:
            raise BadRequestError("choose the company of the new account")
        _check_may_invite(actor, role, company.id)
        existing = portal_store.find_user_by_email(session, email)
        if existing is not None and existing.status == UserStatus.UNCONFIRMED:
            # An unconfirmed self-sign-up proves nothing about the mailbox: the invitation takes the account
            # over from nothing (no password, the squatter's links retired), issue 13 finding 3.
            user = portal_store.mark_user_restarted(session, existing, full_name=full_name, role=role,
                                                    company_id=company.id, status=UserStatus.INVITED, at=now)
            portal_store.end_user_sessions(session, user.id, now)
        else:
            user = store.add_user(session, email=email, full_name=full_name, role=role, company_id=company.id,
                                  status=UserStatus.INVITED, at=now)
        token, expires_at = new_link(session, runtime, user, "activate")
        append_event(session, at=now, actor=actor.name, action="user.invited", object_type="user",
                     object_id=email, company_id=company.id,
                     details={"role": role, "full_name": full_name,
                              "replaced_unconfirmed_signup": existing is not None}, source_ip=actor.source_ip)
        view, company_name = member_view(user, company.eic), company.name
    sent = mail_link(runtime, email=email, full_name=full_name, token=token, purpose="activate",
                     expires_at=expires_at, company_name=company_name)
    return Invitation(member=view, expires_at=expires_at, mail_sent=sent)


def resend_activation(runtime: Runtime, actor: Actor, *, user_id: int | None = None,
                      email: str | None = None) -> Invitation:
    """A new link for someone who never set a password; the older links stop working."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        user = portal_store.get_user(session, user_id) if user_id is not None else None
        if user is None and email:
            user = portal_store.find_user_by_email(session, email.strip())
        if user is None:
            raise NotFoundError("no such user")
        visible = actor.is_operator or (actor.is_company_admin and user.company_id == actor.company_id)
        if not visible:
            raise NotFoundError("no such user")
        if user.password_hash is not None or user.status not in (UserStatus.INVITED, UserStatus.ACTIVE):
            raise BadRequestError(f"{user.email} has already activated the account")
        if count_events(session, action="user.activation_sent", object_id=user.email,
                        since=now - timedelta(hours=1)) >= RESENDS_PER_HOUR:
            raise TooManyRequestsError(f"{user.email} was sent {RESENDS_PER_HOUR} links in the last hour: "
                                       "wait before sending another")
        token, expires_at = new_link(session, runtime, user, "activate")
        append_event(session, at=now, actor=actor.name, action="user.activation_sent", object_type="user",
                     object_id=user.email, company_id=user.company_id, source_ip=actor.source_ip)
        company = store.get_company(session, user.company_id) if user.company_id else None
        view, saved = member_view(user, company.eic if company else None), user.locale
    sent = mail_link(runtime, email=view.email, full_name=view.full_name, token=token, purpose="activate",
                     expires_at=expires_at, company_name=company.name if company else None, locale=saved)
    return Invitation(member=view, expires_at=expires_at, mail_sent=sent)


def _live_token(session: Session, runtime: Runtime, token: str) -> tuple[ActivationToken, User]:
    record = portal_store.find_token(session, token_digest(token)) if token else None
    if record is None or record.used_at is not None or record.expires_at <= runtime.clock.now():
        raise NotFoundError(LINK_INVALID)
    return record, portal_store.get_user(session, record.user_id)


def describe_link(runtime: Runtime, token: str) -> LinkInfo:
    with runtime.sessionmaker() as session:
        record, user = _live_token(session, runtime, token)
        return LinkInfo(email=user.email, full_name=user.full_name, purpose=record.purpose,
                        expires_at=record.expires_at)


def use_link(runtime: Runtime, token: str, *, password: str | None, source_ip: str | None) -> LinkInfo:
    """Activate (set the first password), confirm a signed-up address, or reset a password."""
    now = runtime.clock.now()
    notify: list[tuple[str, str, str | None]] = []
    with runtime.sessionmaker.begin() as session:
        record, user = _live_token(session, runtime, token)
        purpose = record.purpose
        info = LinkInfo(email=user.email, full_name=user.full_name, purpose=purpose,
                        expires_at=record.expires_at)
        if purpose == "confirm" and user.status != UserStatus.UNCONFIRMED:
            raise NotFoundError(LINK_INVALID)
        # Every link sets the password, the confirmation too: only the mailbox's owner chooses it (issue 13).
        new_password = check_password_rules(password or "", email=user.email)
        if purpose == "confirm":
            status: str | None = UserStatus.PENDING if user.company_id else UserStatus.ACTIVE
            action = "user.email_confirmed"
            if user.company_id:
                notify = [(a.email, a.full_name, a.locale)
                          for a in portal_store.list_company_admins(session, user.company_id)]
        else:
            status = UserStatus.ACTIVE if user.status == UserStatus.INVITED else None
            action = "user.activated" if purpose == "activate" else "user.password_reset"
        portal_store.mark_user(session, user, password_hash=hash_password(new_password), status=status)
        portal_store.end_user_sessions(session, user.id, now)
        portal_store.mark_tokens_used(session, user.id, now)
        append_event(session, at=now, actor=user.email, action=action, object_type="user", object_id=user.email,
                     company_id=user.company_id, source_ip=source_ip)
    tell_admins_of_join(runtime, notify, f"{info.full_name} <{info.email}>")
    return info


def request_password_reset(runtime: Runtime, *, email: str, source_ip: str | None, locale: str | None = None) -> None:
    """Same answer whether or not the address has an account (no enumeration, ASVS 6.4.x). The mail is in the
    person's saved language, else `locale` (the page's)."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        user = portal_store.find_user_by_email(session, (email or "").strip())
        if user is None or user.password_hash is None or user.status not in (UserStatus.ACTIVE, UserStatus.PENDING):
            return
        token, expires_at = new_link(session, runtime, user, "reset")
        append_event(session, at=now, actor=user.email, action="user.password_reset_requested",
                     object_type="user", object_id=user.email, company_id=user.company_id, source_ip=source_ip)
        target = (user.email, user.full_name, user.locale or locale)
    mail_link(runtime, email=target[0], full_name=target[1], token=token, purpose="reset", expires_at=expires_at,
              locale=target[2])
