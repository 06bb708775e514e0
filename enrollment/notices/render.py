"""The words of each notice: a subject, a plain-text body and the same in HTML (multipart/alternative,
RFC 2046 §5.1.4: the text part first, the richer last), with links to the portal.

In the recipient's language (issue 15 item 1): `words` is its catalog (enrollment.words), English by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ca.expiry_words import ENGLISH, Words, expiry_words
from ca.reasons import REASON_WORDS
from ca.settings import LifecycleSettings
from enrollment.notices.due import CertFact, DueNotice


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _day(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _short(serial: str) -> str:
    return serial[:16]


class _Body:
    """Paragraphs and links written once, rendered twice (text and HTML)."""

    def __init__(self, greeting: str, footer: str) -> None:
        self.text: list[str] = [greeting]
        self.html: list[str] = [f"<p>{escape(greeting)}</p>"]
        self.footer = footer

    def para(self, words: str) -> None:
        self.text.append(words)
        self.html.append(f"<p>{escape(words)}</p>")

    def link(self, label: str, url: str) -> None:
        self.text.append(f"{label}: {url}")
        self.html.append(f'<p><a href="{escape(url, quote=True)}">{escape(label)}</a></p>')

    def items(self, title: str, lines: list[tuple[str, str]]) -> None:
        self.text.append(title + "\n" + "\n".join(f"  - {words} <{url}>" for words, url in lines))
        self.html.append(f"<p>{escape(title)}</p><ul>" + "".join(
            f'<li><a href="{escape(url, quote=True)}">{escape(words)}</a></li>' for words, url in lines) + "</ul>")

    def done(self, subject: str) -> Rendered:
        text = "\n\n".join(self.text + [self.footer]) + "\n"
        html = ("<!doctype html><html><body>" + "".join(self.html)
                + f'<p style="color:#666">{escape(self.footer)}</p></body></html>\n')
        return Rendered(subject=subject, text=text, html=html)


def _cert_line(cert: CertFact, now: datetime, holders: dict[int, str], base: str,
               words: Words) -> tuple[str, str]:
    line = words.gettext("%(serial)s of %(holder)s: %(when)s") % {
        "serial": _short(cert.serial), "holder": holders.get(cert.user_id, words.gettext("a member")),
        "when": expiry_words(cert.not_after, now, words=words)}
    return line, f"{base}/certificates/{cert.serial}"


def render(notice: DueNotice, now: datetime, base_url: str, company_names: dict[int, str],
           holders: dict[int, str], lifecycle: LifecycleSettings, words: Words = ENGLISH) -> Rendered:
    _ = words.gettext
    base = base_url.rstrip("/")
    body = _Body(_("Hello %(name)s,") % {"name": notice.recipient.full_name},
                 _("This message was sent by the certificate portal; you do not need to reply."))
    company = company_names.get(notice.company_id or -1, _("your company"))
    cert = notice.certificate
    if notice.kind == "expiry" and cert is not None:
        when = expiry_words(cert.not_after, now, words=words)
        body.para(_("Your certificate %(serial)s for %(company)s %(when)s (%(day)s). "
                    "After that it no longer opens the front office.")
                  % {"serial": _short(cert.serial), "company": company, "when": when, "day": _day(cert.not_after)})
        body.para(_("Renew it now: you get a new certificate at once, without a new approval, and the old one "
                    "keeps working until you first use the new one."))
        body.link(_("Renew your certificate"), f"{base}/certificates/{cert.serial}/renew")
        return body.done(_("Your certificate %(when)s") % {"when": when})
    if notice.kind == "escalation" and cert is not None:
        holder = holders.get(cert.user_id, _("a member of your company"))
        when = expiry_words(cert.not_after, now, words=words)
        body.para(_("The certificate %(serial)s of %(holder)s (%(company)s) %(when)s (%(day)s) and has not been "
                    "renewed. %(holder)s was told; you may want to remind them, or revoke it if it is no longer "
                    "needed.") % {"serial": _short(cert.serial), "holder": holder, "company": company,
                                  "when": when, "day": _day(cert.not_after)})
        body.link(_("See the certificate"), f"{base}/certificates/{cert.serial}")
        return body.done(_("%(company)s: a certificate of %(holder)s %(when)s, not renewed")
                         % {"company": company, "holder": holder, "when": when})
    if notice.kind == "digest":
        body.para(_("This week's certificates to look at in %(company)s.") % {"company": company})
        if notice.expiring:
            body.items(_("Expiring within the coming days (%(count)s):") % {"count": len(notice.expiring)},
                       [_cert_line(c, now, holders, base, words) for c in notice.expiring])
            body.link(_("All expiring certificates"),
                      f"{base}/admin/certificates?expiring_days={lifecycle.digest_expiring_days}")
        if notice.unused:
            body.items(_("Not used for a long time (%(count)s):") % {"count": len(notice.unused)},
                       [_cert_line(c, now, holders, base, words) for c in notice.unused])
            body.link(_("Review and revoke the unused certificates"),
                      f"{base}/admin/unused?days={lifecycle.digest_unused_days}")
        return body.done(_("%(company)s: weekly certificate digest") % {"company": company})
    if notice.kind == "revoked" and notice.revoked is not None:
        revoked = notice.revoked
        why = _(REASON_WORDS[revoked.reason]) if revoked.reason in REASON_WORDS else (
            revoked.reason or _("no reason given"))
        body.para(_("Your certificate %(serial)s was revoked on %(day)s (%(why)s). "
                    "It no longer opens the front office.")
                  % {"serial": _short(revoked.serial), "day": _day(revoked.revoked_at), "why": why})
        body.link(_("Get a new certificate"), f"{base}/certificates/new")
        return body.done(_("Your certificate was revoked"))
    if notice.kind == "detached" and notice.detached is not None:
        detached = notice.detached
        words_detached = _("You were detached from %(company)s on %(day)s by an administrator of the company.") % {
            "company": company, "day": _day(detached.at)}
        if detached.revoked:
            words_detached += " " + _("Your certificates for it were revoked: %(serials)s.") % {
                "serials": ", ".join(_short(s) for s in detached.revoked)}
        body.para(words_detached)
        body.link(_("Your account on the portal"), f"{base}/home")
        return body.done(_("You were detached from %(company)s") % {"company": company})
    raise ValueError(f"cannot render a notice of kind {notice.kind!r}")
