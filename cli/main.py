"""The `pkictl` group and its one error mapping: every refusal — a PKIError, a usage error, a click
exception — is exactly one line `error: ...` on stderr and a non-zero exit (DESIGN §6)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from click.exceptions import NoArgsIsHelpError

from ca.errors import PKIError
from cli.context import CLIContext


def _refuse(message: str, code: int = 1) -> NoReturn:
    click.echo("error: " + " ".join(message.split()), err=True)
    sys.exit(code)


class PKIGroup(click.Group):
    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """click's standalone mode, with our one-line refusals in place of click's usage blocks."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except PKIError as exc:
            _refuse(str(exc))
        except NoArgsIsHelpError as exc:  # `pkictl` or `pkictl cert` alone: the help, as click shows it
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _refuse(exc.format_message() + hint, exc.exit_code)
        except click.ClickException as exc:
            _refuse(exc.format_message(), exc.exit_code)
        except click.Abort:
            _refuse("aborted")
        sys.exit(result if isinstance(result, int) else 0)


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
    from cli import (
        acme,
        api_client,
        audit,
        cert,
        company,
        db,
        issuer,
        lifecycle,
        notify,
        portal,
        quickstart,
        request,
        revocation,
        root,
        serve,
        user,
    )

    for module in (root, issuer, lifecycle, company, user, cert, revocation, audit, db, serve, quickstart, portal,
                   request, notify, api_client, acme):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
