"""Outgoing e-mail: SMTP when `portal.smtp_host` is set, otherwise one .eml file per message in
`portal.outbox_dir` (the embedded default; README points to it).

Messages are sent after the transaction that caused them committed, so a mail failure never undoes a
state change: the caller learns `False` and the person can use "re-send".
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

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


def deliver_message(settings: PortalSettings, message: EmailMessage) -> None:
    """Through SMTP, or into the outbox; raises OSError or smtplib.SMTPException when it could not."""
    if settings.smtp_host:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
    else:
        _write_outbox(settings, message)


def send_mail(settings: PortalSettings, *, to: str, subject: str, body: str) -> bool:
    message = build_message(settings, to=to, subject=subject, body=body)
    try:
        deliver_message(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send e-mail %r to %s: %s", subject, to, exc)
        return False
    return True


class MailQueue:
    """Work that sends mail, done after the answer on one background thread (issue 13 finding 7).

    A request whose answer must not tell whether an account exists (the password-reset request) only
    submits its use case here: the request then does the same work for every address, and neither the
    ledger look-up nor the SMTP round trip shows in its duration. Owned by the application (one per
    process, started on first use, so after a pre-fork server forked); a full queue drops the job, logged.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self._jobs: queue.Queue[tuple[Callable[..., Any], dict[str, Any]] | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[..., Any], **kwargs: Any) -> None:
        self._start()
        try:
            self._jobs.put_nowait((job, kwargs))
        except queue.Full:
            log.error("mail queue full: %s dropped", getattr(job, "__name__", job))

    def join(self) -> None:
        """Wait until every submitted job ran (tests, and an orderly shutdown)."""
        self._jobs.join()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="portail-mail", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            try:
                if item is None:
                    return
                job, kwargs = item
                job(**kwargs)
            except Exception:  # noqa: BLE001  (one failing job must not stop the mail of the others)
                log.exception("background mail job failed")
            finally:
                self._jobs.task_done()
