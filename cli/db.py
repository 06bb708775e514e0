"""`pkictl db upgrade`: apply the ledger's Alembic migrations. `pkictl db check`: list what a crash or an edit
behind the application's back left in the ledger, and close out stale intents (ca/consistency.py)."""

from __future__ import annotations

from datetime import timedelta

import click

from ca.consistency import DEFAULT_OLDER_THAN, check_ledger, parse_age
from ca.errors import PKIError
from ca.runtime import upgrade_ledger
from cli.context import CLIContext, pass_ctx


@click.group("db")
def db_group() -> None:
    """The ledger database."""


@db_group.command("upgrade")
@pass_ctx
def db_upgrade(ctx: CLIContext) -> None:
    """Bring the ledger schema to the newest revision."""
    revision = upgrade_ledger(ctx.settings)
    click.echo(f"ledger at revision {revision}")


def _age(_ctx: click.Context, _param: click.Parameter, value: str) -> object:
    try:
        return parse_age(value)
    except PKIError as exc:
        raise click.BadParameter(str(exc)) from None


@db_group.command("check")
@click.option("--older-than", "older_than", default=DEFAULT_OLDER_THAN, show_default=True, callback=_age,
              help="Age from which a pending (intent) row counts as left by a crash: 0, 90s, 10m, 2h, 1d.")
@click.option("--close-pending", is_flag=True,
              help="Mark those rows failed (nothing was handed out), audited, in one transaction.")
@pass_ctx
def db_check(ctx: CLIContext, older_than: timedelta, close_pending: bool) -> None:
    """Stale intent rows, certificates whose DER does not verify or match their row, the audit chain.

    One line per finding; the exit status is 1 while findings remain (a closed-out row is resolved).
    """
    report = check_ledger(ctx.runtime, ctx.actor, older_than=older_than, close_pending=close_pending)
    for finding in report.findings:
        click.echo(finding.line())
    for finding in report.closed:
        click.echo(f"closed: {finding.what}: marked failed, audited")
    remaining = len(report.remaining)
    click.echo(f"{report.certificates} certificates and {report.events} audit events checked: "
               f"{len(report.findings)} findings, {len(report.closed)} closed, {remaining} remaining")
    if remaining:
        raise SystemExit(1)


COMMANDS = [db_group]
