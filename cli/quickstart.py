"""`pkictl quickstart`: a working local PKI in one command (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.context import CLIContext, pass_ctx
from enrollment.quickstart import DEMO_ADMIN, DEMO_OPERATOR, QuickstartReport, run_quickstart
from enrollment.quickstart_links import DemoLogin, demo_login_links


@click.command("quickstart")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where to set up the demo (default: the working directory).")
@pass_ctx
def quickstart(ctx: CLIContext, directory: Path | None) -> None:
    """Create a demo root, issuer, company and first administrator; print where everything is."""
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        if ctx.config:
            ctx.config = os.path.abspath(ctx.config)
        os.chdir(directory)
    ctx.create_ledger = True
    report = run_quickstart(ctx.runtime, ctx.actor, root_dir=ctx.settings.root.dir)
    for line in report.done or ["already set up: nothing to do"]:
        click.echo(f"  - {line}")
    click.echo("Portail PKI quickstart summary")
    click.echo(f"  offline root CA    {report.root_dir}  (certificate: {report.root_cert})")
    click.echo(f"  ledger             {report.ledger}")
    click.echo(f"  issuer keys        {report.key_dir}  (active issuer: {report.issuer})")
    click.echo(f"  demo company       {report.company}  first administrator: {report.first_admin}")
    click.echo(f"  demo operator      {report.operator}")
    click.echo(f"  repository         {report.repository_url}  (start it with `pkictl serve`)")
    logins = demo_login_links(ctx.runtime, ctx.actor, [DEMO_OPERATOR[0], DEMO_ADMIN[0]])
    _next_steps(ctx, report, logins)


def _next_steps(ctx: CLIContext, report: QuickstartReport, logins: list[DemoLogin]) -> None:
    """The block a first-time user reads: how to log in, then what to try (issue 15 item 4)."""
    settings = ctx.settings
    portal = settings.portal.base_url.rstrip("/")
    names = [name.strip() for name in settings.frontoffice.server_names.split(",") if name.strip()]
    frontoffice_host = settings.frontoffice.host if settings.frontoffice.host in names else names[0]
    frontoffice = f"https://{frontoffice_host}:{settings.frontoffice.port}/"
    click.echo("")
    click.echo("How to log in (portal: " + portal + "/login)")
    for login in logins:
        who = "operator" if login.role == "operator" else "company first administrator"
        if login.url is None:
            click.echo(f"  {who:27} {login.email}: log in with the password you chose")
        else:
            assert login.expires_at is not None
            click.echo(f"  {who:27} {login.email}: open this one-time link to choose the password")
            click.echo(f"      {login.url}")
            click.echo(f"      (works once, until {login.expires_at:%Y-%m-%d %H:%M} UTC; "
                       f"a new `make run` prints a new one while no password is set)")
    click.echo("What to try next")
    click.echo(f"  1. as the administrator, get a certificate: {portal}/certificates/new")
    click.echo(f"  2. import the .p12 into the browser and open the front office: {frontoffice}")
    click.echo(f"     (trust the root CA first: {report.repository_url}root.pem)")
    click.echo(f"  3. revoke it from {portal}/certificates and reload the front office: access is refused")
    click.echo(f"  the repository's index (certificates, CRLs, OCSP): {report.repository_url}")
    click.echo(f"  e-mails the portal sends are written to {settings.portal.outbox_dir}/")


COMMANDS = [quickstart]
