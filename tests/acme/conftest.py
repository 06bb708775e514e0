"""A real ACME server (`pkictl serve acme`, HTTPS) and repository (CRL, OCSP) on loopback, a company with
its domain and EAB credentials: what certbot and lego talk to."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ca.actor import cli_operator
from ca.runtime import Runtime
from enrollment.acme_server.domains import add_company_domain
from enrollment.acme_server.eab import EabCredentials, create_eab
from tests.conftest import EIC
from tests.support.pki import SessionPKI
from tests.support.server import PKICTL, Server, free_port, process_environment, start_server, stop_server

DOMAIN = "example.test"
NAMES = ("www.example.test", "api.example.test", "evil.invalid", "www.other.test")


@dataclass
class AcmeWorld:
    directory: str
    port: int
    http01_port: int
    tlsalpn01_port: int
    root_pem: Path
    issuer_pem: Path
    eab: EabCredentials
    repository: Server
    process: subprocess.Popen[bytes]
    log: Path
    runtime: Runtime
    issuer_name: str


def _wait_https(url: str, context: ssl.SSLContext, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve acme exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                response.read()
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"serve acme did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture
def acme_world(runtime: Runtime, environ: dict[str, str], session_pki: SessionPKI,
               tmp_path: Path) -> Iterator[AcmeWorld]:
    operator = cli_operator("pytest")
    add_company_domain(runtime, operator, company_eic=EIC, domain=DOMAIN)
    eab = create_eab(runtime, operator, company_eic=EIC)
    repository = start_server(environ, tmp_path / "logs", extra_env={"PKI_CRL__PUBLISH_DELAY_SECONDS": "1"})
    port, http01_port, tlsalpn01_port = free_port(), free_port(), free_port()
    acme_dir = tmp_path / "acme"
    env = process_environment(
        environ,
        PKI_REPOSITORY__BASE_URL=repository.base_url,
        PKI_ACME__BASE_URL=f"https://127.0.0.1:{port}",
        PKI_ACME__SERVER_CERT_FILE=str(acme_dir / "server-chain.pem"),
        PKI_ACME__SERVER_KEY_FILE=str(acme_dir / "server.key.pem"),
        PKI_ACME__SERVER_KEY_PASSPHRASE_FILE=str(tmp_path / "secrets" / "acme.passphrase"),
        PKI_ACME__HTTP01_PORT=str(http01_port),
        PKI_ACME__TLSALPN01_PORT=str(tlsalpn01_port),
        PKI_ACME__RESOLVE=",".join(f"{name}=127.0.0.1" for name in NAMES),
    )
    log = tmp_path / "logs" / "serve-acme.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([PKICTL, "serve", "acme", "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True)
    context = ssl.create_default_context(cafile=str(session_pki.root_pem))
    world = AcmeWorld(directory=f"https://127.0.0.1:{port}/acme/directory", port=port, http01_port=http01_port,
                      tlsalpn01_port=tlsalpn01_port,
                      root_pem=session_pki.root_pem, issuer_pem=session_pki.issuer_pem, eab=eab,
                      repository=repository, process=process, log=log, runtime=runtime,
                      issuer_name=session_pki.issuer_name)
    try:
        _wait_https(world.directory, context, process, log)
        yield world
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        stop_server(repository)
    for log_file in (log, repository.log):
        assert "Traceback" not in log_file.read_text(errors="replace"), log_file.read_text(errors="replace")[-3000:]
