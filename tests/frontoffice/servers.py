"""Real servers for the gate tests: `pkictl serve frontoffice` (direct HTTPS, or plain HTTP behind nginx),
nginx with the shipped config/deploy/nginx-frontoffice.conf, and curl as the client.

Every server listens on 127.0.0.1 and a free port, runs in its own process group, and is stopped by the
fixture that started it (TERM, then KILL); waits are bounded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ca.issuer import key_path, public_key_path
from tests.frontoffice.world import Holder
from tests.support.pki import SessionPKI
from tests.support.server import PKICTL, Server, free_port, process_environment, stop_server
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONF = REPO / "config" / "deploy" / "nginx-frontoffice.conf"


def frontoffice_environ(base: Path, pki: SessionPKI, *, portal_url: str) -> dict[str, str]:
    """Everything under `base`: its own ledger and key directory (issuers made here don't touch the session's)."""
    key_dir = base / "keys"
    key_dir.mkdir(parents=True)
    for path in (key_path(pki.key_dir, pki.issuer_name), public_key_path(pki.key_dir, pki.issuer_name)):
        shutil.copy2(path, key_dir / path.name)
    fo = base / "fo"
    return {
        "PKI_DATABASE__URL": f"sqlite:///{base / 'ledger.sqlite3'}",
        "PKI_CA__KEY_DIR": str(key_dir),
        "PKI_CA__PASSPHRASE_FILE": str(pki.passphrase_file),
        "PKI_ROOT__DIR": str(pki.root_dir),
        "PKI_REPOSITORY__CRL_DIR": str(base / "crl"),
        "PKI_PORTAL__BASE_URL": portal_url,
        "PKI_PORTAL__OUTBOX_DIR": str(base / "outbox"),
        "PKI_PORTAL__SECRET_FILE": str(base / "secrets" / "session.key"),
        "PKI_FRONTOFFICE__SERVER_CERT_FILE": str(fo / "server-chain.pem"),
        "PKI_FRONTOFFICE__SERVER_KEY_FILE": str(fo / "server.key.pem"),
        "PKI_FRONTOFFICE__SERVER_KEY_PASSPHRASE_FILE": str(fo / "server.passphrase"),
        "PKI_FRONTOFFICE__CLIENT_CA_FILE": str(fo / "client-ca.pem"),
        "PKI_FRONTOFFICE__SERVER_NAMES": "frontoffice.localhost,127.0.0.1",
        "PKI_FRONTOFFICE__TRUSTED_PROXIES": "127.0.0.1",
        # The stack's servers are the strict setting (no certificate: no handshake); the default page mode
        # gets its own server in test_missing_certificate_page_mode.
        "PKI_FRONTOFFICE__MISSING_CERTIFICATE_PAGE": "false",
    }


def _wait_port(server: Server, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen within {timeout:.0f} s:\n{server.log_tail()}")


def start_frontoffice(environ: Mapping[str, str], log_dir: Path, *, mode: str = "direct", workers: int = 1,
                      extra_env: Mapping[str, str] | None = None, timeout: float = 30.0) -> Server:
    port = free_port()
    env = process_environment(environ, PKI_FRONTOFFICE__MODE=mode)
    env.update(extra_env or {})
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"frontoffice-{mode}-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [PKICTL, "serve", "frontoffice", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    server = Server(process=process, port=port, log=log)
    try:
        _wait_port(server, timeout, "pkictl serve frontoffice")
        if mode == "proxy":  # granian binds before its workers load the application: wait for an answer
            _wait_http(server, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def _wait_http(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.url("/"), timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the front office did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def nginx_config(directory: Path, *, port: int, backend_port: int, chain: Path, key: Path, passphrase: Path,
                 client_ca: Path, workers: int = 1) -> Path:
    """The shipped server block with this test's ports and files, inside a minimal nginx.conf."""
    return write_nginx_conf(directory, deploy_server_block(port=port, backend_port=backend_port, chain=chain, key=key,
                                                           passphrase=passphrase, client_ca=client_ca), workers)


def deploy_server_block(*, port: int, backend_port: int, chain: Path, key: Path, passphrase: Path,
                        client_ca: Path) -> str:
    """config/deploy/nginx-frontoffice.conf with these ports and files (what goes inside `http { }`)."""
    text = DEPLOY_CONF.read_text()
    replacements = {
        "server 127.0.0.1:8443;": f"server 127.0.0.1:{backend_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/var/lib/portail-pki/frontoffice/server-chain.pem": str(chain),
        "/var/lib/portail-pki/frontoffice/server.key.pem": str(key),
        "/var/lib/portail-pki/secrets/frontoffice.passphrase": str(passphrase),
        "/var/lib/portail-pki/frontoffice/client-ca.pem": str(client_ca),
    }
    for old, new in replacements.items():
        assert old in text, f"{DEPLOY_CONF.name} no longer contains {old!r}: update the test with it"
        text = text.replace(old, new)
    return text


def write_nginx_conf(directory: Path, http_block: str, workers: int = 1) -> Path:
    """A minimal nginx.conf around `http_block` (its own pid, logs and temporary directories under `directory`)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes {workers};\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {temp['client_body']};\n  proxy_temp_path {temp['proxy']};\n"
        f"  fastcgi_temp_path {temp['fastcgi']};\n  uwsgi_temp_path {temp['uwsgi']};\n"
        f"  scgi_temp_path {temp['scgi']};\n"
        f"{http_block}\n}}\n")
    return conf


def start_nginx(directory: Path, conf: Path, port: int, timeout: float = 15.0) -> Server:
    nginx = require_tool("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "nginx.out"
    check = subprocess.run([nginx, "-t", "-q", "-e", str(directory / "error.log"), "-p", str(directory),
                            "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t refused the configuration:\n{check.stderr}"
    with open(log, "wb") as out:
        process = subprocess.Popen([nginx, "-e", str(directory / "error.log"), "-p", str(directory), "-c", str(conf),
                                    "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(process=process, port=port, log=directory / "error.log")
    try:
        _wait_port(server, timeout, "nginx")
    except BaseException:
        stop_server(server)
        raise
    return server


@dataclass(frozen=True)
class Answer:
    """What curl got: an HTTP status and body, or no HTTP at all (`status` 0: the TLS handshake failed)."""

    status: int
    body: str
    curl_exit: int
    error: str

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def outcome(self) -> str:
        """'tls' (no HTTP answer), '200', or '<status>:<code>' for a refusal."""
        if self.status == 0:
            return "tls"
        if self.status == 200:
            return "200"
        try:
            return f"{self.status}:{self.json['error']}"
        except (ValueError, KeyError):
            return f"{self.status}:?"


def escaped_pem(holder: Holder) -> str:
    return quote(holder.cert_file.read_text(), safe="")


def curl(url: str, *, holder: Holder | None = None, cacert: Path | None = None, accept: str = "application/json",
         headers: Sequence[str] = (), source: str | None = None, extra: Sequence[str] = (),
         timeout: float = 10.0) -> Answer:
    command = [require_tool("curl"), "-sS", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}",
               "-H", f"Accept: {accept}"]
    if holder is not None:
        command += ["--cert", str(holder.cert_file), "--key", str(holder.key_file)]
    if cacert is not None:
        command += ["--cacert", str(cacert)]
    if source is not None:
        command += ["--interface", source]
    for header in headers:
        command += ["-H", header]
    result = subprocess.run([*command, *extra, url], capture_output=True, text=True, timeout=timeout + 5)
    body, _, code = result.stdout.rpartition("\n")
    status = int(code) if code.strip().isdigit() else 0
    return Answer(status=status, body=body, curl_exit=result.returncode, error=result.stderr.strip())
