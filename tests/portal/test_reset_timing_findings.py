"""Issue 13 finding 7: the password-reset request does the same work for a known and an unknown address —
the look-up, the link and the (SMTP) mail happen after the answer, on the application's mail thread."""

from __future__ import annotations

import re
import threading

from sqlalchemy import event

from tests.portal.support import post


class _Statements:
    """SQL statements the ledger runs on the calling thread (the request's), not on the mail thread."""

    def __init__(self, engine) -> None:
        self.engine, self.thread, self.seen = engine, threading.get_ident(), []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == self.thread:
            self.seen.append(statement.split()[0].upper())


def _drain(app) -> None:
    queue = app.extensions.get("portail.mail_queue")
    if queue is not None:
        queue.join()


def test_reset_request_work_does_not_depend_on_the_account(client, world, mailbox, runtime, app):
    answers, work = {}, {}
    for who, email in (("known", world.emails["carol"]), ("unknown", "ghost@example.com")):
        post(client, "/password-reset", {"email": email})  # warm up (first request, CSRF page)
        _drain(app)
        with _Statements(runtime.engine) as statements:
            answers[who] = post(client, "/password-reset", {"email": email}).get_data(as_text=True)
        work[who] = statements.seen
    # The same page either way; only the CSRF token differs when the two answers straddle a second (its
    # signature carries a timestamp), so it is masked.
    masked = {who: re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', text)
              for who, text in answers.items()}
    assert masked["known"] == masked["unknown"]
    assert work["known"] == work["unknown"] == [], work
    _drain(app)
    assert len(mailbox.wait_for(world.emails["carol"], 2)) == 2  # the known address still gets its links
    assert mailbox.to("ghost@example.com") == []
