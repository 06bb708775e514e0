"""A loopback SMTP server (aiosmtpd) that keeps what it receives, and reads the portal's links back."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.server import free_port

_LINK = re.compile(r"https?://\S+/activate/[A-Za-z0-9_-]+")


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 5.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no mail #{count} for {address}; got {[m['To'] for m in self.messages]}")

    def last_link(self, address: str, count: int = 1) -> str:
        body = self.wait_for(address, count)[-1].get_content()
        match = _LINK.search(body)
        assert match, f"no link in the mail to {address}: {body}"
        return match.group(0)


def start_mailbox() -> tuple[Mailbox, Controller]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    return box, controller
