"""`pkictl api-client ...`: a company's OAuth2 API applications (issue 12 item 1, docs/oauth.md)."""

from __future__ import annotations

import json

import click

from ca.errors import BadRequestError
from cli.context import CLIContext, pass_ctx, read_input_file
from enrollment.api_clients.registration import TlsBinding, create_api_client, list_api_clients, revoke_api_client
from enrollment.api_clients.scopes import SCOPES


@click.group("api-client")
def api_client_group() -> None:
    """Register, list and revoke API applications (OAuth2 client credentials)."""


@api_client_group.command("create")
@click.option("--company", "company", required=True, help="EIC code of the company the application acts for.")
@click.option("--name", required=True, help="A name for the application (unique in the company).")
@click.option("--scope", "scope", required=True, help="Space-separated scopes: " + ", ".join(SCOPES) + ".")
@click.option("--tls-client-auth", is_flag=True,
              help="Authenticate with a client certificate of the company (RFC 8705) instead of a secret.")
@click.option("--tls-subject", default=None, help="With --tls-client-auth: the certificate's subject DN (RFC 4514).")
@click.option("--tls-san-dns", default=None, help="With --tls-client-auth: a DNS name of the certificate's SAN.")
@click.option("--tls-certificate", default=None, type=click.Path(dir_okay=False),
              help="With --tls-client-auth: pin this certificate (PEM or DER file).")
@pass_ctx
def api_client_create(ctx: CLIContext, company: str, name: str, scope: str, tls_client_auth: bool,
                      tls_subject: str | None, tls_san_dns: str | None, tls_certificate: str | None) -> None:
    """Register an application; prints its client_id and, for a secret client, its client_secret (shown once)."""
    tls_given = bool(tls_subject or tls_san_dns or tls_certificate)
    if tls_given and not tls_client_auth:
        raise BadRequestError("--tls-subject, --tls-san-dns and --tls-certificate need --tls-client-auth")
    tls = None
    if tls_client_auth:
        tls = TlsBinding(subject_dn=tls_subject, san_dns=tls_san_dns,
                         certificate=read_input_file(tls_certificate) if tls_certificate else None)
    registration = create_api_client(ctx.runtime, ctx.actor, company_eic=company, name=name, scope=scope, tls=tls)
    click.echo(f"client_id: {registration.client.client_id}")
    if registration.client_secret is not None:
        click.echo(f"client_secret: {registration.client_secret}")
    click.echo(f"scope: {' '.join(registration.client.scopes)}", err=True)


@api_client_group.command("list")
@click.option("--company", "company", default=None, help="Only this company's applications.")
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
@pass_ctx
def api_client_list(ctx: CLIContext, company: str | None, fmt: str) -> None:
    """List applications (never their secrets)."""
    views = list_api_clients(ctx.runtime, ctx.actor, company_eic=company)
    if fmt == "json":
        click.echo(json.dumps([v.to_dict() for v in views], indent=2))
        return
    for v in views:
        state = "revoked" if v.revoked_at else "active"
        click.echo(f"{v.client_id}  {v.company}  {state}  {v.auth_method}  {' '.join(v.scopes)}  {v.name}")


@api_client_group.command("revoke")
@click.argument("client_id")
@pass_ctx
def api_client_revoke(ctx: CLIContext, client_id: str) -> None:
    """Revoke an application: it gets no more tokens and every token it holds is refused at once."""
    view = revoke_api_client(ctx.runtime, ctx.actor, client_id=client_id)
    click.echo(f"API client {view.client_id} revoked")


COMMANDS = [api_client_group]
