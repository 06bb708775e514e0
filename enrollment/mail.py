"""Outgoing e-mail: SMTP when `portal.smtp_host` is set, otherwise one .eml file per message in
`portal.outbox_dir` (the embedded default; README points to it).

Messages are sent after the transaction that caused them committed, so a mail failure never undoes a
state change: the caller learns `False` and the person can use "re-send".
"""

from __future__ import annotations

import logging
import os
import smtplib
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ca.settings import PortalSettings

log = logging.getLogger("portail.mail")


def build_message(settings: PortalSettings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the portal
    message.set_content(body)
    return message


def _write_outbox(settings: PortalSettings, message: EmailMessage) -> None:
    outbox = settings.outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.eml"
    temporary = outbox / f".{name}.tmp"
    # The links in it are secrets for a few days: readable by the service account only.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(message.as_bytes())
    os.replace(temporary, outbox / name)


def send_mail(settings: PortalSettings, *, to: str, subject: str, body: str) -> bool:
    message = build_message(settings, to=to, subject=subject, body=body)
    try:
        if settings.smtp_host:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
                smtp.send_message(message)
        else:
            _write_outbox(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send e-mail %r to %s: %s", subject, to, exc)
        return False
    return True
