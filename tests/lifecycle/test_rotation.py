"""Issuer rotation (issue 6 §1): the new issuer signs everything new, the retired one keeps its CRLs and
its OCSP responder until its last certificate expires, and only then may it be removed."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ca import issuance
from ca import root as root_ca
from ca.errors import BadRequestError, ConflictError
from ca.lifecycle import issuers, rotation
from ca.revoke import revoke_certificate
from revocation.crl import publish_crls
from revocation.ocsp import OCSPService
from tests.support.pki import PASSPHRASE
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _rotate(runtime, operator, session_pki, name: str = "issuer-2") -> x509.Certificate:
    csr = rotation.rotate_issuer(runtime, operator, name=name, subject=f"CN={name},O=Portail Tests,C=FR",
                                 key_type="ec-p256", passphrase=PASSPHRASE)
    cert = root_ca.sign_issuer(session_pki.root_dir, csr_data=csr, passphrase=PASSPHRASE, validity_years=8,
                               now=runtime.clock.now())
    issuers.install_issuer(runtime, operator, name=name, certificate=cert, root=session_pki.root)
    return cert


def _issue(runtime, operator, days: int = 365):
    return issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1],
                                      user_email="alice@example.com", days=days)


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _ocsp_status(service: OCSPService, issuer: x509.Certificate, leaf: x509.Certificate):
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    response = ocsp.load_der_ocsp_response(service.respond(body=request.public_bytes(serialization.Encoding.DER)).der)
    return response


def test_rotation_keeps_old_certificates_valid_and_revocable(runtime, operator, session_pki, tmp_path):
    before = _issue(runtime, operator)
    new_issuer = _rotate(runtime, operator, session_pki, name="issuer-2")
    after = [_issue(runtime, operator) for _ in range(3)]
    # Every certificate issued after the rotation names the new issuer, and verifies under it.
    for issued in after:
        assert issued.certificate.issuer == new_issuer.subject
        issued.certificate.verify_directly_issued_by(new_issuer)
    assert before.certificate.issuer == session_pki.issuer.subject
    statuses = {v.name: v.status for v in issuers.list_issuers(runtime, operator)}
    assert statuses[session_pki.issuer_name] == "retired"

    openssl = require_tool("openssl")
    leaf = _pem(tmp_path / "before.pem", before.certificate)
    subprocess.run([openssl, "verify", "-CAfile", str(session_pki.root_pem), "-untrusted",
                    str(session_pki.issuer_pem), str(leaf)], check=True, capture_output=True)

    service = OCSPService(runtime)
    response = _ocsp_status(service, session_pki.issuer, before.certificate)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    responder = response.certificates[0]
    assert responder.issuer == session_pki.issuer.subject  # the old issuer's own delegated responder

    revoke_certificate(runtime, operator, serial=before.serial, reason="superseded")
    service.poll_seconds = 0
    service.poll()
    response = _ocsp_status(service, session_pki.issuer, before.certificate)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded

    published = {(p.issuer, p.kind): p for p in publish_crls(runtime, operator)}
    old_crl = x509.load_der_x509_crl(published[(session_pki.issuer_name, "full")].path.read_bytes())
    assert old_crl.is_signature_valid(session_pki.issuer.public_key())
    assert old_crl.get_revoked_certificate_by_serial_number(before.certificate.serial_number) is not None
    lint = require_tool("lint_crl")
    for (_name, kind), crl in published.items():
        result = subprocess.run([lint, "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", str(crl.path)],
                                capture_output=True, text=True)
        assert result.returncode == 0, (kind, result.stdout)
    lint_cert = require_tool("lint_pkix_cert")
    responder_file = _pem(tmp_path / "old-responder.pem", responder)
    result = subprocess.run([lint_cert, "lint", "-s", "WARNING", str(responder_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_retired_issuer_signs_only_responders(runtime, operator, session_pki):
    _rotate(runtime, operator, session_pki, name="issuer-3")
    with pytest.raises(BadRequestError, match="retired"):
        issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1],
                                   user_email="alice@example.com", issuer_name=session_pki.issuer_name)
    responder = issuance.issue_certificate(runtime, operator, csr_data=good_csr("ec-p256")[1], user_email=None,
                                           profile_name="ocsp-responder", days=30,
                                           issuer_name=session_pki.issuer_name)
    assert responder.certificate.issuer == session_pki.issuer.subject


def test_retire_final_refused_while_live_then_allowed(runtime, operator, session_pki, clock):
    issued = _issue(runtime, operator, days=30)
    _rotate(runtime, operator, session_pki, name="issuer-4")
    with pytest.raises(ConflictError) as refusal:
        rotation.retire_issuer(runtime, operator, name=session_pki.issuer_name, final=True)
    assert "1 unexpired" in str(refusal.value) and f"{issued.certificate.not_valid_after_utc:%Y-%m-%d}" in str(
        refusal.value)
    assert {v.name: v.status for v in issuers.list_issuers(runtime, operator)}[session_pki.issuer_name] == "retired"
    with pytest.raises(BadRequestError, match="reason"):
        rotation.retire_issuer(runtime, operator, name=session_pki.issuer_name, final=True, force=True)
    clock.advance(timedelta(days=31))
    assert rotation.retire_issuer(runtime, operator, name=session_pki.issuer_name, final=True) == "removed"
    status = {s.name: s for s in rotation.issuer_status(runtime, operator)}
    assert status[session_pki.issuer_name].status == "removed"
    assert status[session_pki.issuer_name].live_certificates == 0


def test_rotation_to_an_existing_name_is_refused(runtime, operator, session_pki):
    with pytest.raises(ConflictError):
        rotation.rotate_issuer(runtime, operator, name=session_pki.issuer_name, subject="CN=x,C=FR",
                               key_type="ec-p256", passphrase=PASSPHRASE)




def test_rotation_through_the_cli(runner, runtime, session_pki, tmp_path):
    from cli.main import cli

    passfile = tmp_path / "pass"
    passfile.write_bytes(PASSPHRASE)

    def run(*args: object):
        return runner.invoke(cli, [str(a) for a in args])

    result = run("issuer", "rotate", "--name", "issuer-cli", "--subject", "CN=Issuer CLI,O=Portail Tests,C=FR",
                 "--out-csr", tmp_path / "new.csr", "--passphrase-file", passfile)
    assert result.exit_code == 0 and "pkictl root sign-issuer" in result.stdout, result.stderr
    assert run("root", "sign-issuer", "--root-dir", session_pki.root_dir, "--csr", tmp_path / "new.csr", "--out",
               tmp_path / "new.crt", "--passphrase-file", passfile).exit_code == 0
    assert run("issuer", "install", "--name", "issuer-cli", "--cert", tmp_path / "new.crt", "--root-cert",
               session_pki.root_pem).exit_code == 0
    assert run("crl", "publish").exit_code == 0
    assert run("ocsp", "refresh").exit_code == 0
    status = run("issuer", "status")
    assert status.exit_code == 0, status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    assert " retired " in lines[session_pki.issuer_name] and " active " in lines["issuer-cli"]
    for name in (session_pki.issuer_name, "issuer-cli"):
        assert "crl=#" in lines[name] and "crl=#-" not in lines[name] and "responder-until=none" not in lines[name]
    refused = run("issuer", "retire", "--name", session_pki.issuer_name, "--final", "--force")
    assert refused.exit_code != 0 and "--reason" in refused.stderr
    # The new issuer's responder certificate is clean too.
    from ca.ledger import store
    from revocation.responder import ensure_responder

    with runtime.sessionmaker() as session:
        record = store.get_issuer_by_name(session, "issuer-cli")
    responder = ensure_responder(runtime, runtime.issuer_from_record(record)).certificate
    path = _pem(tmp_path / "new-responder.pem", responder)
    lint = require_tool("lint_pkix_cert")
    result = subprocess.run([lint, "lint", "-s", "WARNING", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
