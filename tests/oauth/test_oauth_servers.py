"""The acceptance of issue 12 item 1 against real servers on loopback, with curl as the client:
`pkictl serve portal` (granian, plain HTTP) and `pkictl serve api-mtls` (gunicorn, TLS with client
certificates issued by the test PKI), sharing one ledger; API clients registered with `pkictl api-client`."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from ca.actor import cli_operator
from ca.issuance import issue_certificate
from ca.ledger.models import AuditEvent
from ca.revoke import revoke_certificate
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from tests.conftest import EIC
from tests.support.server import PKICTL, Server, free_port, process_environment, running_server, stop_server
from tests.support.tools import require_tool

OPERATOR = cli_operator("pytest")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: str

    @property
    def json(self) -> dict:
        return json.loads(self.body)


def curl(url: str, *args: str, cert: tuple[Path, Path] | None = None, cacert: Path | None = None) -> Answer:
    with tempfile.NamedTemporaryFile("r", suffix=".headers") as dump:
        return _curl(url, args, cert, cacert, Path(dump.name))


def _curl(url: str, args: tuple[str, ...], cert: tuple[Path, Path] | None, cacert: Path | None,
          dump: Path) -> Answer:
    command = [require_tool("curl"), "-sS", "--max-time", "15", "-D", str(dump), "-o", "-", "-w", "\n%{http_code}"]
    if cert is not None:
        command += ["--cert", str(cert[0]), "--key", str(cert[1])]
    if cacert is not None:
        command += ["--cacert", str(cacert)]
    result = subprocess.run([*command, *args, url], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    body, _, code = result.stdout.rpartition("\n")
    return Answer(status=int(code), body=body, headers=dump.read_text().lower())


def pkictl(environ: dict[str, str], *args: str) -> dict[str, str]:
    result = subprocess.run([PKICTL, *args], capture_output=True, text=True, timeout=60,
                            env=process_environment(environ))
    assert result.returncode == 0, result.stderr
    return dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def x5t(cert_file: Path) -> str:
    der = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def issue_client_certificate(runtime: Runtime, directory: Path, name: str, email: str) -> tuple[Path, Path]:
    """A browser certificate of the company through the real issuance path, as PEM files for curl."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    issued = issue_certificate(runtime, OPERATOR, csr_data=csr.public_bytes(serialization.Encoding.PEM),
                               user_email=email)
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _wait_tls(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"pkictl serve api-mtls exited:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pkictl serve api-mtls did not listen:\n{server.log_tail()}")


@dataclass
class Servers:
    portal: Server
    alias: Server
    environ: dict[str, str]
    runtime: Runtime  # real clock, same ledger
    cacert: Path
    certs: Path

    @property
    def alias_url(self) -> str:
        return f"https://127.0.0.1:{self.alias.port}"


@pytest.fixture
def servers(runtime, environ, session_pki, tmp_path) -> Iterator[Servers]:
    require_tool("curl")
    portal_port, alias_port = free_port(), free_port()
    tls = tmp_path / "api-mtls"
    env = {**environ, "PKI_PORTAL__BASE_URL": f"http://127.0.0.1:{portal_port}",
           "PKI_OAUTH__MTLS_BASE_URL": f"https://127.0.0.1:{alias_port}",
           "PKI_OAUTH__MTLS_SERVER_NAMES": "api-mtls.localhost,127.0.0.1",
           "PKI_OAUTH__MTLS_SERVER_CERT_FILE": str(tls / "server-chain.pem"),
           "PKI_OAUTH__MTLS_SERVER_KEY_FILE": str(tls / "server.key.pem"),
           "PKI_OAUTH__MTLS_SERVER_KEY_PASSPHRASE_FILE": str(tls / "server.passphrase"),
           "PKI_OAUTH__MTLS_CLIENT_CA_FILE": str(tls / "client-ca.pem"),
           "PKI_OAUTH__MTLS_CLIENT_CA_REFRESH_SECONDS": "1"}
    real = build_runtime(load_settings(None, env))
    log = tmp_path / "logs"
    log.mkdir()
    with running_server(env, log, service="portal", port=portal_port, ready_path="/healthz") as portal:
        with open(log / "api-mtls.log", "wb") as out:
            process = subprocess.Popen([PKICTL, "serve", "api-mtls", "--host", "127.0.0.1", "--port", str(alias_port)],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=process_environment(env), start_new_session=True)
        alias = Server(process=process, port=alias_port, log=log / "api-mtls.log")
        try:
            _wait_tls(alias)
            certs = tmp_path / "certs"
            certs.mkdir()
            yield Servers(portal=portal, alias=alias, environ=env, runtime=real, cacert=session_pki.root_pem,
                          certs=certs)
        finally:
            stop_server(alias)
            real.close()


def _token(url: str, client_id: str, secret: str, **kwargs) -> Answer:
    return curl(url + "/oauth/token", "-u", f"{client_id}:{secret}", "-d", "grant_type=client_credentials", **kwargs)


def test_secret_client_with_curl_on_the_portal(servers):
    """curl gets a token with a secret, calls /me and the company's certificates; a missing scope is 403, a
    wrong secret 401 invalid_client, a revoked token is refused; the metadata has the RFC 8414 fields."""
    created = pkictl(servers.environ, "api-client", "create", "--company", EIC, "--name", "Billing robot",
                     "--scope", "certificates:read")
    client_id, secret = created["client_id"], created["client_secret"]
    base = servers.portal.base_url
    got = _token(base, client_id, secret)
    assert got.status == 200, (got.headers, got.body)
    token = got.json["access_token"]
    assert got.json["token_type"] == "Bearer" and got.json["expires_in"] == 600
    bearer = f"Authorization: Bearer {token}"
    me = curl(base + "/api/v1/me", "-H", bearer)
    assert me.status == 200 and me.json["client_id"] == client_id and me.json["company"] == EIC
    assert me.json["name"] == "Billing robot" and me.json["company_name"] == "Demo Producer"
    listed = curl(base + "/api/v1/company/certificates", "-H", bearer)
    assert listed.status == 200 and isinstance(listed.json["items"], list) and "next" in listed.json
    missing = curl(base + "/api/v1/company/users", "-H", bearer)
    assert missing.status == 403 and 'error="insufficient_scope"' in missing.headers
    wrong = _token(base, client_id, "not-the-secret")
    assert wrong.status == 401 and wrong.json["error"] == "invalid_client"
    revoked = curl(base + "/oauth/revoke", "-u", f"{client_id}:{secret}", "-d", f"token={token}")
    assert revoked.status == 200
    refused = curl(base + "/api/v1/me", "-H", bearer)
    assert refused.status == 401 and 'www-authenticate: bearer error="invalid_token"' in refused.headers
    metadata = curl(base + "/.well-known/oauth-authorization-server")
    AuthorizationServerMetadata(metadata.json).validate()
    assert metadata.json["issuer"] == base and metadata.json["token_endpoint"] == base + "/oauth/token"
    assert metadata.json["mtls_endpoint_aliases"]["token_endpoint"] == servers.alias_url + "/oauth/token"
    assert metadata.json["tls_client_certificate_bound_access_tokens"] is True
    with servers.runtime.sessionmaker() as session:
        actions = {e.action for e in session.scalars(select(AuditEvent))}
    assert {"api_client.registered", "oauth.token_issued", "oauth.client_refused", "oauth.token_revoked",
            "oauth.token_refused"} <= actions


def test_certificate_bound_token_at_the_mtls_alias(servers):
    """Over mutual TLS at the alias the token carries cnf.x5t#S256, works with the same client certificate
    (at the alias) and is refused with another certificate, or with none (on the portal)."""
    alice = issue_client_certificate(servers.runtime, servers.certs, "alice", "alice@example.com")
    other = issue_client_certificate(servers.runtime, servers.certs, "alice2", "alice@example.com")
    created = pkictl(servers.environ, "api-client", "create", "--company", EIC, "--name", "Bound robot",
                     "--scope", "certificates:read")
    got = _token(servers.alias_url, created["client_id"], created["client_secret"], cert=alice,
                 cacert=servers.cacert)
    assert got.status == 200, got.body
    token = got.json["access_token"]
    assert claims_of(token)["cnf"] == {"x5t#S256": x5t(alice[0])}
    bearer = f"Authorization: Bearer {token}"
    same = curl(servers.alias_url + "/api/v1/me", "-H", bearer, cert=alice, cacert=servers.cacert)
    assert same.status == 200 and same.json["certificate_bound"] is True
    assert curl(servers.alias_url + "/api/v1/company/certificates", "-H", bearer, cert=alice,
                cacert=servers.cacert).status == 200
    another = curl(servers.alias_url + "/api/v1/me", "-H", bearer, cert=other, cacert=servers.cacert)
    assert another.status == 401 and 'bearer error="invalid_token"' in another.headers
    none = curl(servers.portal.base_url + "/api/v1/me", "-H", bearer)
    assert none.status == 401 and 'bearer error="invalid_token"' in none.headers
    # Revoking the bound certificate ends the token at once.
    serial = f"{x509.load_pem_x509_certificate(alice[0].read_bytes()).serial_number:x}"
    revoke_certificate(servers.runtime, OPERATOR, serial=serial, reason="keyCompromise")
    after = curl(servers.alias_url + "/api/v1/me", "-H", bearer, cert=alice, cacert=servers.cacert)
    assert after.status == 401 and 'bearer error="invalid_token"' in after.headers
    # Without a certificate at the alias, a token is not bound.
    plain = _token(servers.alias_url, created["client_id"], created["client_secret"], cacert=servers.cacert)
    assert plain.status == 200 and "cnf" not in claims_of(plain.json["access_token"])


def test_tls_client_auth_client(servers):
    """RFC 8705 §2.1: a client registered with the subject of a company certificate authenticates with it
    at the alias; another certificate, or no certificate, is invalid_client."""
    alice = issue_client_certificate(servers.runtime, servers.certs, "alice", "alice@example.com")
    subject = x509.load_pem_x509_certificate(alice[0].read_bytes()).subject.rfc4514_string()
    created = pkictl(servers.environ, "api-client", "create", "--company", EIC, "--name", "Cert robot",
                     "--scope", "certificates:read users:read", "--tls-client-auth", "--tls-certificate",
                     str(alice[0]))
    assert "client_secret" not in created
    form = ["-d", "grant_type=client_credentials", "-d", f"client_id={created['client_id']}"]
    got = curl(servers.alias_url + "/oauth/token", *form, cert=alice, cacert=servers.cacert)
    assert got.status == 200, got.body
    token = got.json["access_token"]
    assert claims_of(token)["cnf"] == {"x5t#S256": x5t(alice[0])}
    users = curl(servers.alias_url + "/api/v1/company/users", "-H", f"Authorization: Bearer {token}", cert=alice,
                 cacert=servers.cacert)
    assert users.status == 200
    bob = issue_client_certificate(servers.runtime, servers.certs, "bob", "bob@example.com")
    refused = curl(servers.alias_url + "/oauth/token", *form, cert=bob, cacert=servers.cacert)
    assert refused.status == 401 and refused.json["error"] == "invalid_client"
    bare = curl(servers.portal.base_url + "/oauth/token", *form)
    assert bare.status == 401 and bare.json["error"] == "invalid_client"
    assert subject  # the certificate has a subject a registration could name instead of pinning


def test_alias_refreshes_its_client_ca_bundle_from_the_ledger(servers):
    """Every oauth.mtls_client_ca_refresh_seconds (1 s here) the alias rewrites its client CA bundle from the
    ledger's issuers, as the front office does: a bundle that no longer matches them (as after a new issuer
    is installed) is replaced without a restart, and the next handshake is built from it."""
    from enrollment.access.tls import client_ca_bundle

    bundle = Path(servers.environ["PKI_OAUTH__MTLS_CLIENT_CA_FILE"])
    expected = client_ca_bundle(servers.runtime, with_root=False)
    assert expected and bundle.read_bytes() == expected
    bundle.write_bytes(servers.cacert.read_bytes())  # stale: the root only, none of the ledger's issuers
    deadline = time.monotonic() + 20
    while bundle.read_bytes() != expected:
        assert time.monotonic() < deadline, servers.alias.log.read_text()[-2000:]
        time.sleep(0.2)
    assert servers.alias.process.poll() is None
    assert curl(servers.alias_url + "/.well-known/oauth-authorization-server", cacert=servers.cacert).status == 200
