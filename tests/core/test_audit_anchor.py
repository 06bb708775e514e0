"""An anchor recorded outside the database catches a rewrite that recomputes every hash after the edit."""

from __future__ import annotations

import re

from sqlalchemy import select, text

from ca.ledger.audit import _digest
from ca.ledger.models import AuditEvent
from cli.main import cli


def _drop_triggers(session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))


def test_anchor_catches_a_recomputed_tail(runner, runtime):
    first = runner.invoke(cli, ["audit", "verify"])
    assert first.exit_code == 0, first.stderr
    anchor = re.search(r"anchor: (\d+:[0-9a-f]{64})", first.stdout).group(1)
    with runtime.sessionmaker.begin() as session:
        _drop_triggers(session)
        last = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
        last.actor = "mallory"
        last.hash = _digest(last)  # a careful attacker recomputes the hash: the chain alone still looks fine
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    result = runner.invoke(cli, ["audit", "verify", "--anchor", anchor])
    assert result.exit_code != 0
    assert f"event {anchor.split(':')[0]} differs from its recorded anchor" in result.stderr
    bad = runner.invoke(cli, ["audit", "verify", "--anchor", "12:nothex"])
    assert bad.exit_code != 0 and "invalid anchor" in bad.stderr
