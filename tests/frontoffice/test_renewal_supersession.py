"""Renewal meets the gate (issue 11): the predecessor keeps opening the front office until the successor's
first access over real TLS; from then on it is refused at the gate and `revoked (superseded)` in OCSP —
`pkictl serve frontoffice` and `pkictl serve repository` as real processes, curl and openssl as clients."""

from __future__ import annotations

import re
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca.actor import Actor
from ca.runtime import build_runtime
from ca.settings import load_settings
from enrollment.requests.renewal import renew_with_csr
from tests.frontoffice.servers import curl, frontoffice_environ, start_frontoffice
from tests.frontoffice.world import Holder, build_world
from tests.support.pki import SessionPKI
from tests.support.server import start_server, stop_server
from tests.support.tools import require_tool


def _renew(world, email: str, predecessor: Holder) -> Holder:
    user_id = world.user_ids[email]
    holder = Actor(kind="user", name=email, user_id=user_id, company_id=world.company_id, role="user")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    renewal = renew_with_csr(world.runtime, holder, serial=predecessor.serial,
                             csr_data=csr.public_bytes(serialization.Encoding.PEM))
    assert renewal.pem is not None
    return world.save("successor", x509.load_pem_x509_certificate(renewal.pem), key)


def _ocsp(openssl: str, world, holder: Holder, url: str, directory) -> subprocess.CompletedProcess[str]:
    issuer, root = directory / "issuer.pem", directory / "root.pem"
    issuer.write_bytes(world.pki.issuer.public_bytes(serialization.Encoding.PEM))
    root.write_bytes(world.pki.root.public_bytes(serialization.Encoding.PEM))
    return subprocess.run([openssl, "ocsp", "-issuer", str(issuer), "-cert", str(holder.cert_file), "-url", url,
                           "-CAfile", str(root), "-no_nonce", "-timeout", "10"],
                          capture_output=True, text=True, timeout=30, check=False)


def _until(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_first_access_of_the_successor_supersedes_the_predecessor(tmp_path, session_pki: SessionPKI):
    require_tool("curl")
    openssl = require_tool("openssl")
    environ = frontoffice_environ(tmp_path, session_pki, portal_url="https://portal.example.test")
    runtime = build_runtime(load_settings(None, environ))
    servers = []
    try:
        world = build_world(runtime, session_pki, tmp_path / "certs")
        predecessor = world.issue("predecessor", "bob@example.com")
        successor = _renew(world, "bob@example.com", predecessor)
        gate = start_frontoffice(environ, tmp_path / "logs", mode="direct")
        servers.append(gate)
        repository = start_server(environ, tmp_path / "logs", service="repository")
        servers.append(repository)
        url = f"https://127.0.0.1:{gate.port}/"
        ocsp_url = f"http://127.0.0.1:{repository.port}/pki/ocsp"

        # Downloaded but not installed yet: the predecessor still opens the front office and is good.
        assert curl(url, holder=predecessor, cacert=world.pki.root_pem).outcome == "200"
        before = _ocsp(openssl, world, predecessor, ocsp_url, tmp_path)
        assert re.search(r": good$", before.stdout, re.MULTILINE), before.stdout + before.stderr
        # The successor's first access revokes the predecessor (superseded) in the same transaction.
        assert curl(url, holder=successor, cacert=world.pki.root_pem).outcome == "200"
        refused = _until(lambda: curl(url, holder=predecessor, cacert=world.pki.root_pem).outcome == "403:revoked")
        assert refused, "the predecessor still opens the front office after the successor's first access"
        after = _until(lambda: (lambda r: r if ": revoked" in r.stdout else None)(
            _ocsp(openssl, world, predecessor, ocsp_url, tmp_path)))
        assert after, "OCSP does not say revoked"
        assert re.search(r"^\s*Reason: superseded$", after.stdout, re.MULTILINE), after.stdout
        assert "Response verify OK" in after.stderr
        # The successor goes on working.
        assert curl(url, holder=successor, cacert=world.pki.root_pem).outcome == "200"
        assert re.search(r": good$", _ocsp(openssl, world, successor, ocsp_url, tmp_path).stdout, re.MULTILINE)
        # The repository's maintenance loop ran its certificate-life job (enrollment.notices.job) cleanly.
        assert "maintenance job" not in repository.log.read_text()
    finally:
        for server in reversed(servers):
            stop_server(server)
        runtime.close()
