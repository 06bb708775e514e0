"""`pkictl serve api-mtls`: the OAuth2 mutual-TLS alias (RFC 8705 §5) — token, revocation and
introspection endpoints and `/api/v1/` over HTTPS with an optional client certificate (docs/oauth.md)."""

from __future__ import annotations

import os
import sys

import click

from cli.context import CLIContext
from enrollment.api_clients.alias_tls import prepare_alias_tls


def serve_api_mtls(ctx: CLIContext, host: str | None, port: int | None, workers: int) -> None:
    """gunicorn with this process's settings; host and port override oauth.mtls_host/mtls_port."""
    settings = ctx.settings.oauth
    if ctx.config:
        os.environ["PKI_CONFIG"] = os.path.abspath(ctx.config)
    address, listen_port = host or settings.mtls_host, port or settings.mtls_port
    os.environ["PKI_OAUTH__MTLS_HOST"], os.environ["PKI_OAUTH__MTLS_PORT"] = address, str(listen_port)
    tls = prepare_alias_tls(ctx.runtime)
    if tls.issued_serial:
        click.echo(f"issued the mTLS alias's server certificate {tls.issued_serial} ({tls.chain_file})", err=True)
    click.echo(f"api-mtls listening on https://{address}:{listen_port}/ (client certificate requested)", err=True)
    ctx.close()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:webapp.oauth.gunicorn_conf",
            "--bind", f"{address}:{listen_port}", "--workers", str(workers), "webapp.oauth.alias_server:alias_app()"]
    sys.stderr.flush()
    os.execv(sys.executable, argv)
