"""The issuance fast path and group commit (issue 14 §1), through `issue_certificate` on SQLite and PostgreSQL:
template-signed leaves pass pkilint and `openssl verify`, values the template cannot encode go through the
builder, concurrent issuances share commits, and no certificate is returned before its row is committed."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text

from ca import issuance
from ca.errors import ConflictError
from ca.fast_issuance import FAST_PATH
from ca.ledger.group_commit import GroupCommitter, committer_for
from ca.x509.lint import lint_certificate
from tests.support.tools import require_tool
from tests.vectors.bad_csrs import good_csr

KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048")


def _count(path: str) -> float:
    return FAST_PATH.labels(path)._value.get()


def _issue(runtime, operator, key_type: str, profile: str) -> issuance.IssuedCertificate:
    _key, csr = good_csr(key_type)
    if profile == "browser":
        return issuance.issue_certificate(runtime, operator, csr_data=csr, user_email="alice@example.com")
    if profile == "tls-server":
        return issuance.issue_certificate(runtime, operator, csr_data=csr, user_email=None, profile_name=profile,
                                          dns_names=("portal.example.test", "192.0.2.7", "2001:db8::1"))
    return issuance.issue_certificate(runtime, operator, csr_data=csr, user_email=None, profile_name=profile)


def test_a_sample_issued_through_the_template_passes_pkilint_and_openssl_verify(runtime, operator, session_pki,
                                                                               tmp_path: Path):
    openssl = require_tool("openssl")
    before = _count("template")
    issued = [_issue(runtime, operator, KEY_TYPES[i % 3], profile)
              for i in range(20) for profile in ("browser", "tls-server", "ocsp-responder")]
    assert _count("template") - before == len(issued)
    for one in issued:
        assert lint_certificate(one.certificate) == [], one.certificate.subject
        one.certificate.verify_directly_issued_by(session_pki.issuer)
    paths = []
    for i, one in enumerate(issued):
        path = tmp_path / f"leaf-{i}.pem"
        path.write_bytes(one.pem)
        paths.append(str(path))
    at = str(int(runtime.clock.now().timestamp()) + 60)  # the test clock is fixed in the past
    result = subprocess.run([openssl, "verify", "-x509_strict", "-attime", at, "-CAfile", str(session_pki.root_pem),
                             "-untrusted", str(session_pki.issuer_pem), *paths],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(issued)


def test_values_the_template_cannot_encode_go_through_the_builder(runtime, operator):
    """A DNS label with an underscore fails the template's exact validator: the builder pipeline (with
    pkilint over the whole certificate) decides instead, and the path is counted."""
    _key, csr = good_csr("ec-p256")
    builder_before, template_before = _count("builder"), _count("template")
    issued = issuance.issue_certificate(runtime, operator, csr_data=csr, user_email=None,
                                        profile_name="tls-server", dns_names=("under_score.example.test",))
    assert _count("builder") == builder_before + 1 and _count("template") == template_before
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["under_score.example.test"]


def _committed_status(database_url: str, serial: str) -> tuple[str, bytes] | None:
    """The row as another connection sees it: only what is committed."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT status, der FROM certificates WHERE serial = :s"),
                                     {"s": serial}).first()
            return (row[0], bytes(row[1])) if row else None
    finally:
        engine.dispose()


def test_concurrent_issuances_share_commits_and_return_only_committed_rows(runtime, operator, database_url):
    committer = committer_for(runtime.sessionmaker)
    batches, units = committer.batches, committer.units
    csrs = [good_csr("ec-p256")[1] for _ in range(48)]
    seen: list[tuple[str, bytes, tuple[str, bytes] | None]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(chunk: list[bytes]) -> None:
        try:
            for csr in chunk:
                issued = issuance.issue_certificate(runtime, operator, csr_data=csr, user_email="alice@example.com")
                # Read at once on a connection of its own: the row must already be committed and complete.
                row = _committed_status(database_url, issued.serial)
                with lock:
                    seen.append((issued.serial, issued.certificate.public_bytes(Encoding.DER), row))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(csrs[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(seen) == 48
    for serial, der, row in seen:
        assert row == ("issued", der), serial
    assert committer.units - units == 96  # one intent and one result per certificate
    assert committer.batches - batches < 96, "no two issuances ever shared a commit"


def test_a_failing_unit_is_rolled_back_alone(runtime):
    committer = GroupCommitter(runtime.sessionmaker)
    start = threading.Barrier(3)
    outcomes: dict[str, object] = {}

    def write(name: str, fail: bool) -> None:
        def work(session):
            session.execute(text("INSERT INTO blocked_keys (spki_sha256, reason, blocked_at) "
                                 "VALUES (:k, 'test', CURRENT_TIMESTAMP)"), {"k": name})
            if fail:
                raise ConflictError(f"{name} refused")
            return name

        start.wait()
        try:
            outcomes[name] = committer.run(work)
        except ConflictError as error:
            outcomes[name] = error

    threads = [threading.Thread(target=write, args=(f"{n:064x}", n == 2)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(outcomes[f"{2:064x}"], ConflictError)
    assert outcomes[f"{0:064x}"] == f"{0:064x}" and outcomes[f"{1:064x}"] == f"{1:064x}"
    with runtime.sessionmaker() as session:
        stored = set(session.execute(text("SELECT spki_sha256 FROM blocked_keys")).scalars())
    assert stored == {f"{0:064x}", f"{1:064x}"}


@pytest.mark.parametrize("profile", ["browser", "ocsp-responder"])
def test_template_and_builder_certificates_carry_the_same_tbs_shape(runtime, operator, profile):
    """The issued certificate re-encoded by the builder from its own values gives the same TBS bytes."""
    from ca.x509.signing import preview
    from ca.x509.templates import leaf_builder, load_profile, repository_urls

    issued = _issue(runtime, operator, "ec-p256", profile)
    cert = issued.certificate
    san = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    builder = leaf_builder(load_profile(profile, runtime.settings.profiles), cert.subject, cert.public_key(),
                           issued.chain[0], cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc,
                           repository_urls(runtime.settings.repository.base_url, issued.issuer),
                           emails=san.get_values_for_type(x509.RFC822Name) if san else ())
    assert preview(builder, "ec-p256").tbs_certificate_bytes == cert.tbs_certificate_bytes
