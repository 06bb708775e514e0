"""`pkictl db upgrade`: apply the ledger's Alembic migrations."""

from __future__ import annotations

import click

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


COMMANDS = [db_group]
