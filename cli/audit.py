"""`pkictl audit verify`: check the hash chain of the audit trail."""

from __future__ import annotations

import click

from ca.audit_trail import verify_audit_trail
from cli.context import CLIContext, pass_ctx


@click.group("audit")
def audit_group() -> None:
    """The append-only, hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--anchor", "anchors", multiple=True,
              help="ID:HASH of an event recorded earlier (printed by this command); repeatable.")
@pass_ctx
def audit_verify(ctx: CLIContext, anchors: tuple[str, ...]) -> None:
    """Verify every event's hash and link; name each event that was altered.

    Record the printed anchor outside the database: a later `--anchor` catches a rewrite of the whole tail.
    """
    report = verify_audit_trail(ctx.runtime, ctx.actor, list(anchors))
    if report.ok:
        click.echo(f"audit trail intact: {report.events} events")
        click.echo(f"anchor: {report.events}:{report.head}")
        return
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    raise SystemExit(1)


COMMANDS = [audit_group]
