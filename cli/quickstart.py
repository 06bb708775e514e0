"""`pkictl quickstart`: a working local PKI in one command (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cli.context import CLIContext, pass_ctx
from enrollment.quickstart import run_quickstart


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
    click.echo(f"  repository         {report.repository_url}  (start it with `pkictl serve`)")


COMMANDS = [quickstart]
