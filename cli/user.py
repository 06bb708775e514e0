"""`pkictl user ...`: accounts (operators, company administrators and users)."""

from __future__ import annotations

import json

import click

from cli.context import CLIContext, pass_ctx
from enrollment.accounts import users as accounts


@click.group("user")
def user_group() -> None:
    """Create and list user accounts."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True, help="Full name, written as the certificate's CN.")
@click.option("--company", "company_eic", default=None, help="EIC code of the user's company.")
@click.option("--role", default="user", show_default=True,
              type=click.Choice(["user", "admin", "first-admin", "operator"]))
@pass_ctx
def user_create(ctx: CLIContext, email: str, full_name: str, company_eic: str | None, role: str) -> None:
    """Create an account."""
    view = accounts.create_user(ctx.runtime, ctx.actor, email=email, full_name=full_name,
                                company_eic=company_eic, role=role)
    click.echo(f"user {view.email} created ({view.role}{', ' + view.company if view.company else ''})")


@user_group.command("list")
@click.option("--company", "company_eic", default=None)
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def user_list(ctx: CLIContext, company_eic: str | None, fmt: str) -> None:
    """List accounts, optionally of one company."""
    views = accounts.list_users(ctx.runtime, ctx.actor, company_eic=company_eic)
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    for v in views:
        click.echo(f"{v.email:40} {v.role:12} {v.status:10} {v.company or '-'}  {v.full_name}")


COMMANDS = [user_group]
