"""The words of each notice: a subject, a plain-text body and the same in HTML (multipart/alternative,
RFC 2046 §5.1.4: the text part first, the richer last), with links to the portal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ca.expiry_words import expiry_words
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

    def __init__(self, greeting: str) -> None:
        self.text: list[str] = [greeting]
        self.html: list[str] = [f"<p>{escape(greeting)}</p>"]

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
        footer = "This message was sent by the certificate portal; you do not need to reply."
        text = "\n\n".join(self.text + [footer]) + "\n"
        html = ("<!doctype html><html><body>" + "".join(self.html)
                + f'<p style="color:#666">{escape(footer)}</p></body></html>\n')
        return Rendered(subject=subject, text=text, html=html)


def _cert_line(cert: CertFact, now: datetime, holders: dict[int, str], base: str) -> tuple[str, str]:
    words = f"{_short(cert.serial)} of {holders.get(cert.user_id, 'a member')}: {expiry_words(cert.not_after, now)}"
    return words, f"{base}/certificates/{cert.serial}"


def render(notice: DueNotice, now: datetime, base_url: str, company_names: dict[int, str],
           holders: dict[int, str], lifecycle: LifecycleSettings) -> Rendered:
    base = base_url.rstrip("/")
    body = _Body(f"Hello {notice.recipient.full_name},")
    company = company_names.get(notice.company_id or -1, "your company")
    cert = notice.certificate
    if notice.kind == "expiry" and cert is not None:
        when = expiry_words(cert.not_after, now)
        body.para(f"Your certificate {_short(cert.serial)} for {company} {when} ({_day(cert.not_after)}). "
                  "After that it no longer opens the front office.")
        body.para("Renew it now: you get a new certificate at once, without a new approval, and the old one "
                  "keeps working until you first use the new one.")
        body.link("Renew your certificate", f"{base}/certificates/{cert.serial}/renew")
        return body.done(f"Your certificate {when}")
    if notice.kind == "escalation" and cert is not None:
        holder = holders.get(cert.user_id, "a member of your company")
        when = expiry_words(cert.not_after, now)
        body.para(f"The certificate {_short(cert.serial)} of {holder} ({company}) {when} "
                  f"({_day(cert.not_after)}) and has not been renewed. {holder} was told; you may want to remind "
                  "them, or revoke it if it is no longer needed.")
        body.link("See the certificate", f"{base}/certificates/{cert.serial}")
        return body.done(f"{company}: a certificate of {holder} {when}, not renewed")
    if notice.kind == "digest":
        body.para(f"This week's certificates to look at in {company}.")
        if notice.expiring:
            body.items(f"Expiring within the coming days ({len(notice.expiring)}):",
                       [_cert_line(c, now, holders, base) for c in notice.expiring])
            body.link("All expiring certificates",
                      f"{base}/admin/certificates?expiring_days={lifecycle.digest_expiring_days}")
        if notice.unused:
            body.items(f"Not used for a long time ({len(notice.unused)}):",
                       [_cert_line(c, now, holders, base) for c in notice.unused])
            body.link("Review and revoke the unused certificates",
                      f"{base}/admin/unused?days={lifecycle.digest_unused_days}")
        return body.done(f"{company}: weekly certificate digest")
    if notice.kind == "revoked" and notice.revoked is not None:
        revoked = notice.revoked
        why = REASON_WORDS.get(revoked.reason or "", revoked.reason or "no reason given")
        body.para(f"Your certificate {_short(revoked.serial)} was revoked on {_day(revoked.revoked_at)} ({why}). "
                  "It no longer opens the front office.")
        body.link("Get a new certificate", f"{base}/certificates/new")
        return body.done("Your certificate was revoked")
    if notice.kind == "detached" and notice.detached is not None:
        detached = notice.detached
        body.para(f"You were detached from {company} on {_day(detached.at)} by an administrator of the company."
                  + (f" Your certificates for it were revoked: {', '.join(_short(s) for s in detached.revoked)}."
                     if detached.revoked else ""))
        body.link("Your account on the portal", f"{base}/home")
        return body.done(f"You were detached from {company}")
    raise ValueError(f"cannot render a notice of kind {notice.kind!r}")
