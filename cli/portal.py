"""`pkictl service ...`, `pkictl point ...`, `pkictl activation ...`: what the portal needs from the CA host.

- services come from config/services.toml (or portal.services_file); `service seed` loads them (the portal
  also does at start);
- connection points of a company make up its groups' perimeters; the operator registers them;
- `activation send` e-mails a set-your-password link, e.g. to bootstrap an operator created with
  `pkictl user create --role operator` (with no SMTP host, the mail lands in portal.outbox_dir).
"""

from __future__ import annotations

import json

import click

from ca.errors import DeliveryError
from cli.context import CLIContext, pass_ctx
from enrollment.accounts import activation
from enrollment.groups import services


@click.group("service")
def service_group() -> None:
    """Front-office services that groups can be granted."""


@service_group.command("seed")
@pass_ctx
def service_seed(ctx: CLIContext) -> None:
    """Load the services of the configuration into the ledger (added or renamed; never deleted)."""
    changed = services.seed_services(ctx.runtime, ctx.actor)
    click.echo(f"{len(changed)} service(s) added or renamed" + (f": {', '.join(changed)}" if changed else ""))


@service_group.command("list")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def service_list(ctx: CLIContext, fmt: str) -> None:
    """List the services in the ledger."""
    views = services.list_services(ctx.runtime, ctx.actor)
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    for view in views:
        click.echo(f"{view.code:24} {view.name}")


@click.group("point")
def point_group() -> None:
    """Connection points of a company (the perimeter of its groups)."""


@point_group.command("add")
@click.option("--company", "company_eic", required=True, help="EIC code of the company.")
@click.option("--code", required=True, help="The connection point's code.")
@click.option("--label", required=True, help="What people call it.")
@pass_ctx
def point_add(ctx: CLIContext, company_eic: str, code: str, label: str) -> None:
    """Register a connection point of a company."""
    view = services.add_connection_point(ctx.runtime, ctx.actor, company_eic=company_eic, code=code, label=label)
    click.echo(f"connection point {view.code} added to {company_eic.upper()}")


@point_group.command("list")
@click.option("--company", "company_eic", required=True)
@pass_ctx
def point_list(ctx: CLIContext, company_eic: str) -> None:
    """List a company's connection points."""
    for view in services.list_connection_points(ctx.runtime, ctx.actor, company_eic=company_eic):
        click.echo(f"{view.code:24} {view.label}")


@click.group("activation")
def activation_group() -> None:
    """Activation links of accounts that have no password yet."""


@activation_group.command("send")
@click.option("--email", required=True, help="The account's e-mail address.")
@pass_ctx
def activation_send(ctx: CLIContext, email: str) -> None:
    """E-mail a new set-your-password link (older links stop working)."""
    invitation = activation.resend_activation(ctx.runtime, ctx.actor, email=email)
    where = (f"SMTP {ctx.settings.portal.smtp_host}" if ctx.settings.portal.smtp_host
             else f"the outbox {ctx.settings.portal.outbox_dir}")
    if not invitation.mail_sent:
        raise DeliveryError(f"the link was made but could not be sent through {where}")
    click.echo(f"activation link for {invitation.member.email} sent through {where}; "
               f"it expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC")


COMMANDS = [service_group, point_group, activation_group]
