"""The `pkictl` group and its one error mapping: a PKIError becomes one line on stderr and exit 1."""

from __future__ import annotations

import sys

import click

from ca.errors import PKIError
from cli.context import CLIContext


class PKIGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PKIError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=PKIGroup)
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None, envvar="PKI_CONFIG",
              help="Site configuration file (TOML) overriding config/default.toml.")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Portail PKI: operate the offline root, the online issuers, the ledger and the services."""
    state = CLIContext(config=config)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    from cli import audit, cert, company, db, issuer, lifecycle, portal, quickstart, revocation, root, serve, user

    for module in (root, issuer, lifecycle, company, user, cert, revocation, audit, db, serve, quickstart, portal):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except PKIError as exc:  # raised outside invoke (e.g. while loading settings in a callback)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
