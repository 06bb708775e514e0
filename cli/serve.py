"""`pkictl serve`: run the services with granian (a Rust HTTP server; measured 54k req/s on a bare WSGI
callable on this machine, against ~5k for gunicorn + Flask)."""

from __future__ import annotations

import os

import click

from ca.errors import BadRequestError
from cli.context import CLIContext, pass_ctx

_TARGETS = {"repository": "webapp.wsgi:repository", "portal": "webapp.portal_wsgi:portal"}


@click.command("serve")
@click.argument("service", default="repository",
                type=click.Choice(["repository", "portal", "frontoffice", "api-mtls", "acme", "all"]))
@click.option("--host", default=None, help="Address to listen on (default from the settings).")
@click.option("--port", default=None, type=int, help="Port to listen on (default from the settings).")
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="Portal only: request threads per worker (default: granian's).")
@pass_ctx
def serve(ctx: CLIContext, service: str, host: str | None, port: int | None, workers: int,
          threads: int | None) -> None:
    """Serve the repository (CA certificates, CRLs, OCSP), the portal, the front office, the ACME server
    (HTTPS, directory at <acme.base_url>/acme/directory, docs/acme.md), or all of them.

    \b
    `serve all` supervises one child process per service: a child that dies
    is restarted (backoff 0.5 s doubling to 8 s; after 5 crashes within 60 s
    it gives up, stops the others and exits 1). --host and --workers apply to
    every service (the OAuth2 mTLS alias api-mtls included); the ports are
    each service's own (settings).
    To stop: Ctrl-C, or `kill PID` (SIGTERM or SIGINT). In-flight requests
    finish, every child is stopped, and it exits within 10 s.
    `serve api-mtls` runs the OAuth2 mutual-TLS alias (token endpoint and API).
    A single service (`serve repository|portal|frontoffice`) stops the same way
    (systemd units: config/deploy/).
    """
    if service == "all":
        return _serve_all(ctx, host, port, workers)
    if service == "frontoffice":
        return _serve_frontoffice(ctx, host, port, workers)
    if service == "api-mtls":  # the OAuth2 mutual-TLS alias (RFC 8705 §5)
        from cli.serve_api_mtls import serve_api_mtls

        return serve_api_mtls(ctx, host, port, workers)
    if service == "acme":
        return _serve_acme(ctx, host, port, workers)
    settings = ctx.settings
    if ctx.config:
        os.environ["PKI_CONFIG"] = os.path.abspath(ctx.config)
    ctx.runtime  # migrate the ledger once, before workers start  # noqa: B018
    from granian import Granian

    section = settings.repository if service == "repository" else settings.portal
    address = host or section.host
    listen_port = port or section.port
    suffix = "/pki/" if service == "repository" else "/"
    click.echo(f"{service} listening on http://{address}:{listen_port}{suffix}", err=True)
    options = {"blocking_threads": threads} if threads and service == "portal" else {}
    Granian(_TARGETS[service], address=address, port=listen_port, interface="wsgi", factory=True,
            workers=workers, log_enabled=False, **options).serve()


def all_children(base: list[str], host: str | None, workers: int) -> list[tuple[str, list[str]]]:
    """The (name, argv) of each service `serve all` supervises: --host and --workers reach every child."""
    options = (["--host", host] if host else []) + ["--workers", str(workers)]
    return [(name, [*base, "serve", name, *options])
            for name in ("repository", "portal", "frontoffice", "acme", "api-mtls")]


def _serve_all(ctx: CLIContext, host: str | None, port: int | None, workers: int) -> None:
    """One supervised child process per service on its configured port (cli/supervise.py)."""
    import sys

    from cli.supervise import supervise

    if port is not None:
        raise BadRequestError("serve all runs each service on its own port: set repository.port, acme.port, "
                              "portal.port, frontoffice.port and oauth.mtls_port instead of --port")
    if workers < 1:
        raise BadRequestError("--workers must be at least 1")
    ctx.runtime  # refuse a directory without a ledger, and migrate once, before the children start  # noqa: B018
    ctx.close()
    base = [sys.executable, "-m", "cli.main"] + (["--config", os.path.abspath(ctx.config)] if ctx.config else [])
    raise SystemExit(supervise(all_children(base, host, workers)))


def _serve_frontoffice(ctx: CLIContext, host: str | None, port: int | None, workers: int) -> None:
    """Front office (issue 5, docs/frontoffice.md). direct mode: cheroot with pyOpenSSL speaks HTTPS and hands
    the gate the connection with its certificate and OpenSSL's verdict (webapp/frontoffice/direct_server.py,
    issue 15 item 5: expired and foreign certificates get the refusal page); proxy mode: granian serves
    plain HTTP behind nginx, which terminates mutual TLS."""
    import sys

    from enrollment.access.tls import prepare_server_tls

    settings = ctx.settings.frontoffice
    if ctx.config:
        os.environ["PKI_CONFIG"] = os.path.abspath(ctx.config)
    address, listen_port = host or settings.host, port or settings.port
    if settings.mode == "proxy":
        if not settings.trusted_proxy_addresses:
            raise BadRequestError("proxy mode needs frontoffice.trusted_proxies (the nginx address)")
        tls = prepare_server_tls(ctx.runtime, with_root=True)  # nginx's certificate and client CA bundle
        click.echo(f"frontoffice (behind nginx) listening on http://{address}:{listen_port}/; for nginx: "
                   f"{tls.chain_file}, {tls.key_file}, {tls.client_ca_file}", err=True)
        ctx.close()  # granian, tuned for the gate, in webapp/frontoffice_server.py
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "webapp.frontoffice_server", address, str(listen_port),
                                  str(workers)])
    tls = prepare_server_tls(ctx.runtime)
    if tls.issued_serial:
        click.echo(f"issued the front office's server certificate {tls.issued_serial} ({tls.chain_file})", err=True)
    click.echo(f"frontoffice listening on https://{address}:{listen_port}/ (client certificate required)", err=True)
    ctx.close()
    argv = [sys.executable, "-m", "webapp.frontoffice.direct_server", address, str(listen_port), str(workers)]
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _serve_acme(ctx: CLIContext, host: str | None, port: int | None, workers: int) -> None:
    """ACME (RFC 8555, docs/acme.md) over HTTPS with a certificate from our own issuer (gunicorn: it decrypts
    the server key with its passphrase file; webapp/acme/gunicorn_conf.py)."""
    import sys

    from enrollment.acme_server.tls import prepare_acme_tls

    settings = ctx.settings.acme
    if ctx.config:
        os.environ["PKI_CONFIG"] = os.path.abspath(ctx.config)
    tls = prepare_acme_tls(ctx.runtime)
    if tls.issued_serial:
        click.echo(f"issued the ACME server's certificate {tls.issued_serial} ({tls.chain_file})", err=True)
    address, listen_port = host or settings.host, port or settings.port
    click.echo(f"acme listening on https://{address}:{listen_port}/acme/directory "
               f"(directory URL {settings.directory_base}/acme/directory)", err=True)
    ctx.close()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:webapp.acme.gunicorn_conf",
            "--bind", f"{address}:{listen_port}", "--workers", str(workers), "webapp.acme_wsgi:acme()"]
    sys.stderr.flush()
    os.execv(sys.executable, argv)


COMMANDS = [serve]
