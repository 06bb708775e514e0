"""`pkictl notify run`: compute the certificate-life notices due now, record and send them (issue 11)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ca.errors import BadRequestError
from cli.context import CLIContext, pass_ctx
from enrollment.notices.run import run_notices


@click.group("notify")
def notify_group() -> None:
    """E-mailed notices: expiry warnings, escalation, weekly digest, revocation and detachment."""


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"--as-of {text!r} is not an ISO 8601 date-time (e.g. 2026-12-01T06:00:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@notify_group.command("run")
@click.option("--as-of", "as_of", default=None, metavar="ISO-DATETIME",
              help="Compute as if it were this instant (UTC when no offset); only the computation moves.")
@click.option("--dry-run", is_flag=True, help="Print what is due without recording or sending anything.")
@pass_ctx
def notify_run(ctx: CLIContext, as_of: str | None, dry_run: bool) -> None:
    """Send every notice due and not sent before: one line per message (recipient, kind, serial)."""
    report = run_notices(ctx.runtime, ctx.actor, as_of=_as_of(as_of), dry_run=dry_run)
    click.echo(f"as of {report.as_of.isoformat(timespec='seconds')}{' (dry run: nothing sent)' if dry_run else ''}")
    for line in report.lines:
        click.echo(f"{line.recipient} {line.kind} {line.serial or '-'}")
    if not dry_run:
        click.echo(f"{len(report.lines)} notice(s): {report.sent} sent, {report.failed} to retry")


COMMANDS = [notify_group]
