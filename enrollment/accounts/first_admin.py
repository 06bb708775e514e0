"""Replacing a company's first administrator (issue 15 item 3), an operator's act.

The new one is a member of the company (promoted) or a new address (invited: an `invited` account with the
first-administrator role and an activation link). The old one becomes an administrator, or is detached
(enrollment.accounts.members.detach_user: their certificates revoked, their sessions ended). Roles are re-read
from the ledger on every request (enrollment.accounts.sessions), so the old first administrator loses the
role at their very next click. Both are told by e-mail after the commit; the change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from ca.actor import Actor
from ca.errors import BadRequestError, ConflictError, NotFoundError
from ca.ledger import portal_store, store
from ca.ledger.audit import append_event
from ca.runtime import Runtime
from ca.scope import find_company
from ca.vocabulary import Role, UserStatus
from enrollment.accounts.activation import mail_link, new_link
from enrollment.accounts.members import detach_user
from enrollment.accounts.users import validate_email, validate_full_name
from enrollment.mail import send_mail
from enrollment.words import recipient_words

OLD_BECOMES = ("admin", "detached")


@dataclass(frozen=True)
class Replacement:
    company: str
    old_email: str
    new_email: str
    new_invited: bool
    old_becomes: str
    mails_sent: bool


def replace_first_admin(runtime: Runtime, actor: Actor, *, company_eic: str, email: str, full_name: str = "",
                        old_becomes: str = "admin") -> Replacement:
    actor.require_operator()
    if old_becomes not in OLD_BECOMES:
        raise BadRequestError(f"choose what the old first administrator becomes: {' or '.join(OLD_BECOMES)}")
    email = validate_email(email)
    now = runtime.clock.now()
    token = None
    with runtime.sessionmaker.begin() as session:
        company = find_company(session, company_eic)
        old = next((u for u in portal_store.list_company_admins(session, company.id)
                    if u.role == Role.FIRST_ADMIN and u.status != UserStatus.DEACTIVATED), None)
        if old is None:
            raise NotFoundError(f"{company.name} has no first administrator: designate one instead")
        new = portal_store.find_user_by_email(session, email)
        if new is not None and new.id == old.id:
            raise BadRequestError(f"{email} is already the first administrator of {company.name}")
        if new is not None and new.company_id != company.id:
            raise ConflictError(f"{email} has an account outside {company.name}: choose a member of the company "
                                "or a new address")
        invited = new is None
        if new is None:
            new = store.add_user(session, email=email, full_name=validate_full_name(full_name), role=Role.FIRST_ADMIN,
                                 company_id=company.id, status=UserStatus.INVITED, at=now)
            token, expires_at = new_link(session, runtime, new, "activate")
        else:
            portal_store.mark_user(session, new, role=Role.FIRST_ADMIN)
        portal_store.mark_user(session, old, role=Role.ADMIN)
        append_event(session, at=now, actor=actor.name, action="company.first_admin_replaced",
                     object_type="company", object_id=company.eic, company_id=company.id,
                     details={"old": old.email, "new": new.email, "new_invited": invited, "old_becomes": old_becomes},
                     source_ip=actor.source_ip)
        names = {"company": company.name, "old": old.email, "old_name": old.full_name, "new": new.email,
                 "new_name": new.full_name, "old_id": str(old.id), "old_locale": old.locale or "",
                 "new_locale": new.locale or ""}
    if old_becomes == "detached":
        detach_user(runtime, actor, user_id=int(names["old_id"]), company_eic=company_eic)
    sent = _tell(runtime, names, invited, old_becomes, token, expires_at if token else None)
    return Replacement(company=company_eic, old_email=names["old"], new_email=names["new"], new_invited=invited,
                       old_becomes=old_becomes, mails_sent=sent)


def _tell(runtime: Runtime, names: dict[str, str], invited: bool, old_becomes: str, token: str | None,
          expires_at: object) -> bool:
    portal = runtime.settings.portal
    company = names["company"]
    if invited and token is not None:
        new_sent = mail_link(runtime, email=names["new"], full_name=names["new_name"], token=token,
                             purpose="activate", expires_at=expires_at, company_name=company,  # type: ignore[arg-type]
                             locale=names["new_locale"] or None)
    else:
        _ = recipient_words(names["new_locale"] or None, portal.default_locale).gettext
        news = _("A CA operator made you the first administrator of %(company)s on the certificate portal, in "
                   "place of %(old)s.") % {"company": company, "old": names["old"]}
        new_sent = send_mail(portal, to=names["new"],
                             subject=_("You are now the first administrator of %(company)s") % {"company": company},
                             body=_("Hello %(name)s,") % {"name": names["new_name"]}
                             + f"\n\n{news}\n{portal.base_url.rstrip('/')}/admin/users\n")
    _ = recipient_words(names["old_locale"] or None, portal.default_locale).gettext  # the old one's language
    now_what = (_("you are now one of its administrators") if old_becomes == "admin"
                else _("you were detached from the company and your certificates for it were revoked"))
    old_sent = send_mail(portal, to=names["old"],
                         subject=_("You are no longer the first administrator of %(company)s") % {"company": company},
                         body=_("Hello %(name)s,") % {"name": names["old_name"]} + "\n\n"
                         + _("A CA operator made %(new)s the first administrator of %(company)s on the certificate "
                             "portal: %(now_what)s.")
                         % {"new": f"{names['new_name']} <{names['new']}>", "company": company, "now_what": now_what}
                         + "\n" + _("If this is unexpected, contact the CA operator.") + "\n")
    return new_sent and old_sent
