"""`pkictl audit verify`: check the hash chain of the audit trail."""

from __future__ import annotations

import click

from cli.context import CLIContext, pass_ctx
from enrollment.audit import verify_audit_trail


@click.group("audit")
def audit_group() -> None:
    """The append-only, hash-chained audit trail."""


@audit_group.command("verify")
@pass_ctx
def audit_verify(ctx: CLIContext) -> None:
    """Verify every event's hash and link; name each event that was altered."""
    report = verify_audit_trail(ctx.runtime, ctx.actor)
    if report.ok:
        click.echo(f"audit trail intact: {report.events} events")
        return
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    raise SystemExit(1)


COMMANDS = [audit_group]
