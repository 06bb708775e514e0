"""`pkictl company ...`: customer companies, identified by their EIC code."""

from __future__ import annotations

import json

import click

from cli.context import CLIContext, pass_ctx
from enrollment.accounts import companies
from enrollment.acme_server import domains


@click.group("company")
def company_group() -> None:
    """Register and list customer companies."""


@company_group.command("create")
@click.option("--eic", required=True, help="The company's EIC code (16 characters, check character verified).")
@click.option("--name", required=True)
@pass_ctx
def company_create(ctx: CLIContext, eic: str, name: str) -> None:
    """Register a company."""
    view = companies.create_company(ctx.runtime, ctx.actor, eic=eic, name=name)
    click.echo(f"company {view.eic} created: {view.name}")


@company_group.command("list")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def company_list(ctx: CLIContext, fmt: str) -> None:
    """List companies."""
    views = companies.list_companies(ctx.runtime, ctx.actor)
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    for v in views:
        click.echo(f"{v.eic}  {v.name}")


@company_group.group("domains")
def domains_group() -> None:
    """The DNS domains a company may certify over ACME (subdomains included)."""


@domains_group.command("add")
@click.option("--eic", required=True, help="The company's EIC code.")
@click.option("--domain", required=True, help="A DNS domain, e.g. example.test (its subdomains are included).")
@pass_ctx
def domains_add(ctx: CLIContext, eic: str, domain: str) -> None:
    """Let the company ask for DOMAIN and its subdomains; any other name is rejectedIdentifier."""
    listed = domains.add_company_domain(ctx.runtime, ctx.actor, company_eic=eic, domain=domain)
    click.echo(f"domains of {eic.strip().upper()}: {', '.join(listed)}")


@domains_group.command("list")
@click.option("--eic", required=True, help="The company's EIC code.")
@pass_ctx
def domains_list(ctx: CLIContext, eic: str) -> None:
    """List the domains the company may use."""
    for name in domains.list_company_domains(ctx.runtime, ctx.actor, company_eic=eic):
        click.echo(name)


COMMANDS = [company_group]
