"""Self sign-up and a person's own account: anyone may start an account with an e-mail address; the
address is confirmed by an e-mailed link first, because it goes into certificates (rfc822Name), and the
password is chosen on that link's page, by the mailbox's owner only. An unconfirmed sign-up expires with
its link (`portal.activation_hours`) and never stands in the way of an invitation.

A person who names a company (its EIC code) then waits (`pending`) until an administrator of that company
lets them in; without a company they may log in but not request certificates.
The answer to a sign-up never tells whether the address already has an account (ASVS 6.4.x): the
owner of an existing account receives a mail saying so instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ca.actor import Actor
from ca.errors import BadRequestError, NotAuthorizedError, TooManyRequestsError
from ca.ledger import portal_store, store
from ca.ledger.audit import append_event, count_events
from ca.ledger.models import User
from ca.runtime import Runtime
from ca.vocabulary import ActorKind, Role, UserStatus
from ca.x509.names import validate_eic
from enrollment.accounts.activation import mail_link, new_link, tell_admins_of_join
from enrollment.accounts.passwords import check_password_rules, hash_password, verify_password
from enrollment.accounts.sessions import principal_for
from enrollment.accounts.users import validate_email, validate_full_name
from enrollment.mail import send_mail
from enrollment.words import recipient_words

JOIN_REQUESTS_PER_DAY = 3  # each one mails every administrator of the company (issue 13 finding 8)


def _stale_signup(runtime: Runtime, user: User | None, now: datetime) -> bool:
    """An unconfirmed sign-up expires with its link: it then defends its address against nobody."""
    return (user is not None and user.status == UserStatus.UNCONFIRMED
            and user.created_at + timedelta(hours=runtime.settings.portal.activation_hours) <= now)


def sign_up(runtime: Runtime, *, email: str, full_name: str, company_eic: str | None,
            source_ip: str | None, locale: str | None = None) -> None:
    """Record an unconfirmed account without a password: the owner of the mailbox chooses it from the
    confirmation link, so nobody's password can survive a confirmation they did not make (issue 13).
    The mail is in `locale` (the sign-up page's language), else the site default."""
    email = validate_email(email)
    full_name = validate_full_name(full_name)
    eic = validate_eic(company_eic) if company_eic and company_eic.strip() else None
    now = runtime.clock.now()
    token = None
    with runtime.sessionmaker.begin() as session:
        company = store.get_company_by_eic(session, eic) if eic else None
        existing = portal_store.find_user_by_email(session, email)
        stale = _stale_signup(runtime, existing, now)
        if existing is None or stale:
            company_id = company.id if company else None
            if existing is not None:
                user = portal_store.mark_user_restarted(session, existing, full_name=full_name, role=Role.USER,
                                                        company_id=company_id, status=UserStatus.UNCONFIRMED, at=now)
                portal_store.end_user_sessions(session, user.id, now)
            else:
                user = store.add_user(session, email=email, full_name=full_name, role=Role.USER,
                                      company_id=company_id, status=UserStatus.UNCONFIRMED, at=now)
            token, expires_at = new_link(session, runtime, user, "confirm")
            append_event(session, at=now, actor=email, action="user.signed_up", object_type="user",
                         object_id=email, company_id=company_id,
                         details={"full_name": full_name, "replaced_expired_signup": stale}, source_ip=source_ip)
        known_email = existing.email if existing is not None else email
        known_locale = (existing.locale if existing is not None else None) or locale
    if token is not None:
        mail_link(runtime, email=email, full_name=full_name, token=token, purpose="confirm", expires_at=expires_at,
                  locale=locale)
    else:
        base = runtime.settings.portal.base_url.rstrip("/")
        _ = recipient_words(known_locale, runtime.settings.portal.default_locale).gettext
        send_mail(runtime.settings.portal, to=known_email, subject=_("You already have an account"),
                  body=_("Hello,") + "\n\n"
                  + _("Someone (hopefully you) tried to sign up on the certificate portal with this address, which "
                      "already has an account.") + "\n"
                  + _("Log in at %(login)s, or choose a new password at %(reset)s.")
                  % {"login": f"{base}/login", "reset": f"{base}/password-reset"} + "\n")


def request_membership(runtime: Runtime, actor: Actor, *, company_eic: str) -> None:
    """A person without a company asks to join one; its administrators are told by e-mail."""
    eic = validate_eic(company_eic)
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        if actor.kind != ActorKind.USER or actor.user_id is None:
            raise NotAuthorizedError("only a person's own account may ask to join a company")
        user = portal_store.get_user(session, actor.user_id)
        if user.company_id is not None:
            raise BadRequestError("you already belong to (or wait for) a company")
        if count_events(session, action="user.membership_requested", object_id=user.email,
                        since=now - timedelta(days=1)) >= JOIN_REQUESTS_PER_DAY:
            raise TooManyRequestsError(f"you asked to join a company {JOIN_REQUESTS_PER_DAY} times today: "
                                       "try again tomorrow")
        company = store.get_company_by_eic(session, eic)
        portal_store.mark_user(session, user, company_id=company.id, status=UserStatus.PENDING, role=Role.USER)
        append_event(session, at=now, actor=actor.name, action="user.membership_requested", object_type="user",
                     object_id=user.email, company_id=company.id, source_ip=actor.source_ip)
        admins = [(a.email, a.full_name, a.locale) for a in portal_store.list_company_admins(session, company.id)]
        who = f"{user.full_name} <{user.email}>"
    tell_admins_of_join(runtime, admins, who)


def change_password(runtime: Runtime, actor: Actor, *, current: str, new: str) -> None:
    """Every session of the person ends (the caller logs in again), ASVS 7.4.3."""
    now = runtime.clock.now()
    with runtime.sessionmaker.begin() as session:
        if actor.user_id is None:
            raise NotAuthorizedError("log in first")
        user = portal_store.get_user(session, actor.user_id)
        if not verify_password(user.password_hash, current or ""):
            raise NotAuthorizedError("the current password is wrong")
        new = check_password_rules(new, email=user.email)
        portal_store.mark_user(session, user, password_hash=hash_password(new))
        portal_store.end_user_sessions(session, user.id, now)
        portal_store.mark_tokens_used(session, user.id, now)  # no older reset or activation link outlives it
        principal = principal_for(session, user, actor.source_ip)
        append_event(session, at=now, actor=actor.name, action="user.password_changed", object_type="user",
                     object_id=user.email, company_id=principal.actor.company_id, source_ip=actor.source_ip)
