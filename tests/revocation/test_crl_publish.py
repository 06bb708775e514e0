"""CRL publication end to end (issue 3 §2): ledger → signed files, judged by cryptography, asn1crypto,
openssl and pkilint; the maintenance pass; retired issuers; the root CRL import.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import update
from werkzeug.test import Client

from ca import root as root_ca
from ca.errors import BadRequestError, ConflictError, NotFoundError
from ca.issuer import create_issuer_key
from ca.keys.filekey import load_private_key
from ca.ledger.models import CRLState
from ca.lifecycle import issuers
from ca.revoke import revoke_certificate
from ca.x509.names import parse_dn
from ca.x509.reasons import REASON_CODES
from ca.x509.serials import format_serial
from cli.main import cli
from revocation import crl as crl_uc
from revocation.maintenance import run_once
from revocation.repository import import_root_crl
from tests.revocation.helpers import audit_events, certificate_row, issue, ledger_state, run, write_pem
from tests.support.pki import PASSPHRASE, T0
from tests.support.tools import require_tool
from webapp.repository.app import RepositoryApp

REASON_FLAGS = {
    "keyCompromise": x509.ReasonFlags.key_compromise, "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed, "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn, "aACompromise": x509.ReasonFlags.aa_compromise,
}


def _files(settings, name: str) -> tuple[x509.CertificateRevocationList, x509.CertificateRevocationList]:
    full = x509.load_der_x509_crl(crl_uc.crl_path(settings.repository.crl_dir, name, "full").read_bytes())
    delta = x509.load_der_x509_crl(crl_uc.crl_path(settings.repository.crl_dir, name, "delta").read_bytes())
    return full, delta


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _subject_der(certificate: x509.Certificate) -> bytes:
    """The subject exactly as encoded in the certificate (not re-encoded by a library)."""
    return asn1_x509.TbsCertificate.load(certificate.tbs_certificate_bytes)["subject"].dump()


@pytest.fixture
def revoked_by_reason(runtime, operator):
    """One certificate revoked with each reason an operator may give, and one good certificate."""
    serials = {}
    for reason in REASON_CODES:
        serials[reason] = issue(runtime, operator).serial
        revoke_certificate(runtime, operator, serial=serials[reason], reason=reason)
    serials["good"] = issue(runtime, operator).serial
    return serials


def test_publish_full_and_delta_content(runtime, operator, settings, session_pki, revoked_by_reason, clock):
    published = crl_uc.publish_crls(runtime, operator)
    name = session_pki.issuer_name
    assert [(p.issuer, p.kind) for p in published] == [(name, "full"), (name, "delta")]
    full_pub, delta_pub = published
    full, delta = _files(settings, name)
    issuer = session_pki.issuer
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    for crl, pub in ((full, full_pub), (delta, delta_pub)):
        raw = asn1_crl.CertificateList.load(pub.path.read_bytes())
        assert raw["tbs_cert_list"]["version"].native == "v2"
        assert raw["tbs_cert_list"]["issuer"].dump() == _subject_der(issuer)  # byte for byte (RFC 5280 §5.1.2.3)
        assert crl.is_signature_valid(issuer.public_key())
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert aki.value.key_identifier == ski and not aki.critical
        number = crl.extensions.get_extension_for_class(x509.CRLNumber)
        assert not number.critical and number.value.crl_number == pub.crl_number
        assert crl.last_update_utc == clock.now() == pub.this_update
        assert crl.next_update_utc == pub.next_update
        assert timedelta(0) < crl.next_update_utc - crl.last_update_utc <= timedelta(days=7)
    assert delta_pub.crl_number > full_pub.crl_number
    # Full CRL: every revoked certificate, reasonCode only when not unspecified (§5.3.1), non-critical.
    revoked = {reason: s for reason, s in revoked_by_reason.items() if reason != "good"}
    entries = {format_serial(r.serial_number): r for r in full}
    assert set(entries) == set(revoked.values()) and full_pub.entries == len(revoked)
    for reason, serial in revoked.items():
        entry = entries[serial]
        assert entry.revocation_date_utc == clock.now()
        if reason == "unspecified":
            assert len(entry.extensions) == 0
        else:
            ext = entry.extensions.get_extension_for_class(x509.CRLReason)
            assert ext.value.reason == REASON_FLAGS[reason] and not ext.critical
    # Full → FreshestCRL → the delta's URL (§5.2.6); delta → DeltaCRLIndicator = the full's number (§5.2.4).
    freshest = full.extensions.get_extension_for_class(x509.FreshestCRL)
    assert [p.full_name[0].value for p in freshest.value] == [
        f"{settings.repository.base_url}/pki/crl/{name}-delta.crl"]
    indicator = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical and indicator.value.crl_number == full_pub.crl_number
    with pytest.raises(x509.ExtensionNotFound):
        delta.extensions.get_extension_for_class(x509.FreshestCRL)
    with pytest.raises(x509.ExtensionNotFound):
        full.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    # Audit trail, and no temporary file left behind by the atomic writes.
    events = audit_events(runtime)
    assert [(e.action, e.object_id) for e in events[-2:]] == [("crl.published.full", name),
                                                              ("crl.published.delta", name)]
    assert sorted(p.name for p in settings.repository.crl_dir.iterdir()) == [f"{name}-delta.crl", f"{name}.crl"]


def test_empty_crl_and_repository_serves_it(runtime, operator, settings, session_pki):
    crl_uc.publish_crls(runtime, operator)
    full, delta = _files(settings, session_pki.issuer_name)
    assert len(full) == 0 and len(delta) == 0
    client = Client(RepositoryApp(runtime))
    for url, crl in ((f"/pki/crl/{session_pki.issuer_name}.crl", full),
                     (f"/pki/crl/{session_pki.issuer_name}-delta.crl", delta)):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Content-Type"] == "application/pkix-crl"
        assert response.data == crl.public_bytes(Encoding.DER)


def test_crl_numbers_strictly_increase_even_when_the_clock_steps_back(runtime, operator, session_pki, clock):
    numbers = []
    for step in (timedelta(0), timedelta(hours=1), timedelta(hours=-3), timedelta(0)):
        clock.advance(step)
        numbers += [p.crl_number for p in crl_uc.publish_crls(runtime, operator)]
    assert numbers == sorted(set(numbers)) and len(numbers) == 8


def test_crl_number_never_goes_below_the_published_file(runtime, operator, settings, session_pki):
    """A ledger restored from an old backup must not make the published number go down (Boulder #7590)."""
    crl_uc.publish_crls(runtime, operator)
    crl_uc.publish_crls(runtime, operator)
    published_full = _number(_files(settings, session_pki.issuer_name)[0])
    with runtime.sessionmaker.begin() as session:
        session.execute(update(CRLState).values(crl_number=0))
    again = crl_uc.publish_crls(runtime, operator)
    assert again[0].crl_number > published_full and again[1].crl_number > again[0].crl_number


def test_cli_publish(runtime, operator, runner, settings, session_pki):
    serial = issue(runtime, operator).serial
    revoke_certificate(runtime, operator, serial=serial, reason="superseded")
    result = runner.invoke(cli, ["crl", "publish"])
    assert result.exit_code == 0, result.output + result.stderr
    lines = result.stdout.strip().splitlines()
    name = session_pki.issuer_name
    assert lines[0].startswith(f"{name}: full CRL #1, 1 entries, next update ")
    assert lines[1].startswith(f"{name}: delta CRL #2, ")
    assert lines[0].endswith(str(crl_uc.crl_path(settings.repository.crl_dir, name, "full")))
    full, _delta = _files(settings, name)
    assert [format_serial(r.serial_number) for r in full] == [serial]
    result = runner.invoke(cli, ["crl", "publish", "--issuer", name])
    assert result.exit_code == 0 and f"{name}: full CRL #3" in result.stdout


def test_cli_publish_unknown_issuer(runtime, runner):
    before = ledger_state(runtime)
    result = runner.invoke(cli, ["crl", "publish", "--issuer", "no-such-issuer"])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "no-such-issuer" in result.stderr
    assert ledger_state(runtime) == before


def test_use_case_unknown_issuer(runtime, operator):
    with pytest.raises(NotFoundError):
        crl_uc.publish_crls(runtime, operator, issuer_name="no-such-issuer")


# --- external judges ---------------------------------------------------------------------------------------
@pytest.fixture
def chain_files(runtime, operator, session_pki, tmp_path, clock):
    """A good leaf, a leaf revoked before the full CRL and one revoked after it (only in the delta)."""
    good, early, late = (issue(runtime, operator) for _ in range(3))
    revoke_certificate(runtime, operator, serial=early.serial, reason="keyCompromise")
    clock.advance(timedelta(minutes=1))
    full_pub = crl_uc.publish_crls(runtime, operator)[0]
    clock.advance(timedelta(minutes=5))
    revoke_certificate(runtime, operator, serial=late.serial, reason="superseded")
    issuer = runtime.issuer_from_record(_issuer_record(runtime, session_pki.issuer_name))
    # The maintenance pass would republish the full CRL too; publish only the delta, as a publisher
    # between two full CRLs does, so the delta carries what changed since its base.
    delta_pub = crl_uc._publish_one(runtime, operator, issuer, "delta")
    files = {"root": write_pem(tmp_path / "root.pem", session_pki.root),
             "issuer": write_pem(tmp_path / "issuer.pem", session_pki.issuer),
             "chain": write_pem(tmp_path / "chain.pem", session_pki.issuer, session_pki.root),
             "good": write_pem(tmp_path / "good.pem", good.certificate),
             "early": write_pem(tmp_path / "early.pem", early.certificate),
             "late": write_pem(tmp_path / "late.pem", late.certificate),
             "full": full_pub.path, "delta": delta_pub.path}
    for kind in ("full", "delta"):
        crl = x509.load_der_x509_crl(files[kind].read_bytes())
        files[f"{kind}_pem"] = tmp_path / f"{kind}.pem"
        files[f"{kind}_pem"].write_bytes(crl.public_bytes(Encoding.PEM))
    files["serials"] = {"early": early.serial, "late": late.serial}
    files["attime"] = str(int(clock.now().timestamp()))  # openssl judges validity at the test's instant
    return files


def _issuer_record(runtime, name):
    from ca.ledger import store

    with runtime.sessionmaker() as session:
        return store.get_issuer_by_name(session, name)


def test_delta_lists_what_changed_since_its_base(chain_files):
    full = x509.load_der_x509_crl(chain_files["full"].read_bytes())
    delta = x509.load_der_x509_crl(chain_files["delta"].read_bytes())
    assert [format_serial(r.serial_number) for r in full] == [chain_files["serials"]["early"]]
    assert [format_serial(r.serial_number) for r in delta] == [chain_files["serials"]["late"]]
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == _number(full)
    assert _number(delta) > _number(full)


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["full", "delta"])
def test_openssl_crl_verify(chain_files, kind):
    openssl = require_tool("openssl")
    result = run(openssl, "crl", "-inform", "DER", "-in", chain_files[kind], "-CAfile", chain_files["chain"],
                 "-noout")
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr
    # Control: the root did not sign it, so with only the root as trust anchor the check fails.
    result = run(openssl, "crl", "-inform", "DER", "-in", chain_files[kind], "-CAfile", chain_files["root"],
                 "-noout")
    assert result.returncode != 0


@pytest.mark.interop
@pytest.mark.parametrize(("leaf", "deltas", "accepted"), [
    ("good", False, True), ("early", False, False), ("late", False, True),
    ("good", True, True), ("early", True, False), ("late", True, False),
])
def test_openssl_verify_crl_check(chain_files, leaf, deltas, accepted):
    openssl = require_tool("openssl")
    argv = [openssl, "verify", "-crl_check", "-attime", chain_files["attime"], "-CAfile", chain_files["root"],
            "-untrusted", chain_files["issuer"], "-CRLfile", chain_files["full_pem"]]
    if deltas:  # openssl only treats a CRL as a delta with extended CRL support; without it the delta is
        # taken for a complete CRL
        argv += ["-extended_crl", "-use_deltas", "-CRLfile", chain_files["delta_pem"]]
    result = run(*argv, chain_files[leaf])
    if accepted:
        assert result.returncode == 0 and ": OK" in result.stdout, result.stdout + result.stderr
    else:
        assert result.returncode != 0
        assert "certificate revoked" in result.stdout + result.stderr


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["full", "delta"])
def test_pkilint_crl(chain_files, kind):
    lint = require_tool("lint_crl")
    result = run(lint, "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", chain_files[kind])
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.interop
def test_pkilint_root_arl(runtime, runner, session_pki, tmp_path):
    lint = require_tool("lint_crl")
    out = tmp_path / "root.crl"
    result = runner.invoke(cli, ["root", "crl", "--out", str(out), "--passphrase-file",
                                 str(session_pki.passphrase_file)])
    assert result.exit_code == 0, result.output + result.stderr
    result = run(lint, "lint", "-t", "ARL", "-p", "PKIX", "-s", "WARNING", out)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# --- the maintenance pass ------------------------------------------------------------------------------------
def test_maintenance_publishes_when_dirty_and_at_half_validity(runtime, operator, settings, session_pki, clock):
    name = session_pki.issuer_name
    run_once(runtime, refresh_ocsp_answers=False)  # never published: publish now
    assert len(audit_events(runtime, "crl.published.full")) == 1
    number = _number(_files(settings, name)[0])
    run_once(runtime, refresh_ocsp_answers=False)  # nothing to do
    assert _number(_files(settings, name)[0]) == number
    # A revocation marks the CRL dirty: the next pass republishes it, with the entry.
    clock.advance(timedelta(minutes=1))
    serial = issue(runtime, operator).serial
    revoke_certificate(runtime, operator, serial=serial, reason="superseded")
    run_once(runtime, refresh_ocsp_answers=False)
    full, delta = _files(settings, name)
    assert _number(full) > number and [format_serial(r.serial_number) for r in full] == [serial]
    number = _number(full)
    # Before half of the validity nothing happens; at half, a new CRL (BR §4.9.7: well before nextUpdate).
    half = (full.next_update_utc - full.last_update_utc) / 2
    clock.advance(half - timedelta(seconds=1))
    run_once(runtime, refresh_ocsp_answers=False)
    assert _number(_files(settings, name)[0]) == number
    clock.advance(timedelta(seconds=1))
    run_once(runtime, refresh_ocsp_answers=False)
    full, delta = _files(settings, name)
    assert _number(full) > number and full.last_update_utc == clock.now()
    assert delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number == _number(full)


@pytest.fixture
def rollover(runtime, operator, session_pki):
    """A second issuer from the session root is installed: the session issuer becomes retired."""
    name = f"rollover-{uuid.uuid4().hex[:8]}"
    csr = create_issuer_key(session_pki.key_dir, name, parse_dn(f"CN=Rollover {name},O=Portail Tests,C=FR"),
                            "ec-p256", PASSPHRASE)
    cert = root_ca.sign_issuer(session_pki.root_dir, csr_data=csr, passphrase=PASSPHRASE, validity_years=8, now=T0)
    return name, cert


def test_retired_issuer_keeps_publishing(runtime, operator, settings, session_pki, rollover, clock):
    old = session_pki.issuer_name
    revoked = issue(runtime, operator).serial
    live = issue(runtime, operator).serial
    revoke_certificate(runtime, operator, serial=revoked, reason="superseded")
    new, new_cert = rollover
    issuers.install_issuer(runtime, operator, name=new, certificate=new_cert, root=session_pki.root)
    assert {v.name: v.status for v in issuers.list_issuers(runtime, operator)} == {old: "retired", new: "active"}
    published = crl_uc.publish_crls(runtime, operator)
    assert {(p.issuer, p.kind) for p in published} == {(old, "full"), (old, "delta"), (new, "full"), (new, "delta")}
    assert [format_serial(r.serial_number) for r in _files(settings, old)[0]] == [revoked]
    # The maintenance pass keeps the retired issuer's CRL fresh while its certificates live.
    clock.advance(timedelta(days=4))
    run_once(runtime, refresh_ocsp_answers=False)
    assert _files(settings, old)[0].last_update_utc == clock.now()
    assert issue(runtime, operator).certificate.issuer == new_cert.subject  # new certificates: the new issuer
    # Once its last certificate and the issuer itself have expired, the retired issuer stops publishing.
    assert certificate_not_after(runtime, live) < session_pki.issuer.not_valid_after_utc
    clock.set(session_pki.issuer.not_valid_after_utc + timedelta(days=1))
    assert old not in {p.issuer for p in crl_uc.publish_crls(runtime, operator)}


def certificate_not_after(runtime, serial):
    return certificate_row(runtime, serial).not_after


# --- the root CRL --------------------------------------------------------------------------------------------
def _root_crl(session_pki, tmp_path: Path, runner, fmt: str = "der") -> Path:
    out = tmp_path / f"root-{uuid.uuid4().hex[:6]}.crl"
    result = runner.invoke(cli, ["root", "crl", "--out", str(out), "--format", fmt, "--passphrase-file",
                                 str(session_pki.passphrase_file)])
    assert result.exit_code == 0, result.output + result.stderr
    return out


def test_import_root_crl(runtime, operator, runner, settings, session_pki, tmp_path):
    older = _root_crl(session_pki, tmp_path, runner)
    newer = _root_crl(session_pki, tmp_path, runner, fmt="pem")
    result = runner.invoke(cli, ["crl", "import-root", str(newer)])
    number = _number(x509.load_pem_x509_crl(newer.read_bytes()))
    assert result.exit_code == 0 and result.stdout.strip() == f"root CRL #{number} published", result.stderr
    published = settings.repository.crl_dir / "root.crl"
    assert x509.load_der_x509_crl(published.read_bytes()) == x509.load_pem_x509_crl(newer.read_bytes())
    response = Client(RepositoryApp(runtime)).get(
        "/pki/root.crl")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pkix-crl"
    assert response.data == published.read_bytes()
    assert audit_events(runtime, "crl.root_imported")[-1].object_id == "root"
    # The same number again, or an older one: refused, nothing changed.
    before = (ledger_state(runtime), published.read_bytes())
    for path in (newer, older):
        result = runner.invoke(cli, ["crl", "import-root", str(path)])
        assert result.exit_code == 1 and result.stderr.startswith("error: "), result.stderr
        assert (ledger_state(runtime), published.read_bytes()) == before


def test_import_root_crl_refuses_other_signers(runtime, operator, session_pki, tmp_path, clock):
    # The issuer's own CRL: a real CRL, not signed by the root.
    issuer_crl = crl_uc.publish_crls(runtime, operator)[0].path.read_bytes()
    # A forgery: the root's name and a CRL number, signed by some other key.
    key = ec.generate_private_key(ec.SECP384R1())
    forged = (x509.CertificateRevocationListBuilder().issuer_name(session_pki.root.subject)
              .last_update(clock.now()).next_update(clock.now() + timedelta(days=30))
              .add_extension(x509.CRLNumber(10**6), critical=False).sign(key, hashes.SHA384()))
    before = ledger_state(runtime)
    for data in (issuer_crl, forged.public_bytes(Encoding.DER)):
        with pytest.raises(BadRequestError, match="not signed by the installed root"):
            import_root_crl(runtime, operator, data)
    with pytest.raises(BadRequestError, match="not a CRL"):
        import_root_crl(runtime, operator, b"garbage")
    assert ledger_state(runtime) == before
    assert not (runtime.settings.repository.crl_dir / "root.crl").exists()


def test_import_root_crl_without_crl_number_is_a_clean_refusal(runtime, operator, session_pki, clock):
    """A root-signed CRL lacking CRLNumber (e.g. from another tool) is refused as a bad request, not a crash."""
    root_key = load_private_key(session_pki.root_dir / "root.key.pem", PASSPHRASE)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(session_pki.root.subject)
           .last_update(clock.now()).next_update(clock.now() + timedelta(days=30)).sign(root_key, hashes.SHA384()))
    before = ledger_state(runtime)
    with pytest.raises((BadRequestError, ConflictError)):
        import_root_crl(runtime, operator, crl.public_bytes(Encoding.DER))
    assert ledger_state(runtime) == before
