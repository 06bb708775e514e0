"""Drill: CRL publication on a full disk (issue 10 §5).

The CRL directory is a real, small tmpfs (mounted here as root) that is then filled to the last byte. A
publication must fail without harm: the previous CRL file stays in place, byte for byte, and keeps being
served; no temporary file is left behind; the ledger's CRL number does not move; the error is logged and
counted. When space is back, the repository's maintenance pass publishes by itself, with a number above
every number published before: a CRL number never goes backwards.
"""

from __future__ import annotations

import errno
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from ca.ledger import store
from ca.revoke import revoke_certificate
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from ca.x509.crl import crl_number_of
from revocation.crl import publish_crls
from tests.drills.conftest_outage import Browser, wait_until
from tests.revocation.helpers import issue
from tests.support.server import running_server


class SmallDisk:
    """A tmpfs of `size` bytes at `path`; `fill()` takes every free byte, `free()` gives them back."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.filler = path / "filler.bin"
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}): needs root in a container that "
                        "allows mounts")

    def fill(self) -> None:
        with open(self.filler, "ab", buffering=0) as handle:
            for chunk in (65536, 4096, 512, 1):
                while True:
                    try:
                        handle.write(b"\0" * chunk)
                    except OSError as error:
                        assert error.errno == errno.ENOSPC, error
                        break

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "crl", 512 * 1024)
    try:
        yield disk
    finally:
        disk.close()


def _numbers(runtime: Runtime, issuer_name: str) -> dict[str, int]:
    with runtime.sessionmaker() as session:
        issuer = store.get_issuer_by_name(session, issuer_name)
        return {state.kind: state.crl_number for state in store.list_crl_states(session)
                if state.issuer_id == issuer.id}


@pytest.mark.usefixtures("runtime")
def test_full_disk_keeps_the_previous_crl_and_the_number_never_goes_back(operator, environ, session_pki,
                                                                          small_disk, tmp_path, caplog):
    name = session_pki.issuer_name
    crl_file = small_disk.path / f"{name}.crl"
    runtime = build_runtime(load_settings(None, environ))  # the real clock, as the repository process has
    try:
        _full_disk_drill(runtime, operator, environ, name, crl_file, small_disk, tmp_path, caplog)
    finally:
        runtime.close()


def _full_disk_drill(runtime: Runtime, operator, environ, name: str, crl_file: Path, small_disk: SmallDisk,
                     tmp_path: Path, caplog) -> None:
    publish_crls(runtime, operator)
    before_bytes = crl_file.read_bytes()
    before_numbers = _numbers(runtime, name)
    revoked = issue(runtime, operator)
    revoke_certificate(runtime, operator, serial=revoked.serial, reason="keyCompromise")

    small_disk.fill()
    with caplog.at_level(logging.ERROR), pytest.raises(OSError) as raised:
        publish_crls(runtime, operator)
    assert raised.value.errno == errno.ENOSPC
    assert crl_file.read_bytes() == before_bytes, "the previous CRL was damaged"
    assert _numbers(runtime, name) == before_numbers, "a CRL number was used by a publication that failed"
    assert not [p.name for p in small_disk.path.iterdir() if p.name.endswith(".tmp")], "a temporary file was left"
    assert any("could not write full CRL" in r.getMessage() for r in caplog.records), caplog.text
    print(f"\n[drill] disk full: publication refused (ENOSPC), CRL #{crl_number_of(before_bytes)} intact")

    # The repository process, with its maintenance pass every second, on the full disk.
    env = {**environ, "PKI_CRL__PUBLISH_DELAY_SECONDS": "1"}
    with running_server(env, tmp_path / "logs") as server:
        browser = Browser(server.base_url)
        time.sleep(2.5)  # a few maintenance passes fail
        served = browser.get(f"/pki/crl/{name}.crl")
        assert served.status == 200 and served.body == before_bytes
        assert "could not write full CRL" in server.log_tail(20000), server.log_tail()
        metrics = browser.get("/metrics").text
        assert f'pki_crl_publish_failures_total{{issuer="{name}"}}' in metrics, metrics[-2000:]
        ready = browser.get("/readyz")
        assert ready.status == 200, ready.text  # the previous CRL is still fresh: serving is fine

        small_disk.free()
        freed = time.monotonic()

        def republished() -> bool:
            reply = browser.get(f"/pki/crl/{name}.crl")
            return reply.status == 200 and crl_number_of(reply.body) > crl_number_of(before_bytes)

        took = wait_until(republished, 15.0, step=0.1)
        assert took is not None, server.log_tail()
        print(f"[drill] space back: new CRL served after {time.monotonic() - freed:.2f} s")
        served = browser.get(f"/pki/crl/{name}.crl").body
    after = x509.load_der_x509_crl(served)
    assert after.get_revoked_certificate_by_serial_number(revoked.certificate.serial_number) is not None
    numbers = _numbers(runtime, name)
    assert all(numbers[kind] > before_numbers[kind] for kind in before_numbers), (before_numbers, numbers)
    assert crl_number_of(served) == numbers["full"]
    print(f"[drill] CRL numbers before {before_numbers}, after {numbers}")


def test_publication_after_a_failed_write_uses_a_higher_number_than_any_file(runtime, operator, environ,
                                                                              session_pki, small_disk, clock):
    """A CRL file whose number is above the ledger's (a write that reached the disk but whose transaction did
    not commit) is never followed by a smaller number: the next number is above both."""
    name = session_pki.issuer_name
    publish_crls(runtime, operator)
    crl_file = small_disk.path / f"{name}.crl"
    other = build_runtime(load_settings(None, environ), clock)
    try:
        # A publication that wrote its file and then lost its transaction: the file moves ahead of the ledger.
        ahead = crl_file.read_bytes()
        publish_crls(other, operator)
        written = crl_file.read_bytes()
        with other.sessionmaker.begin() as session:
            issuer = store.get_issuer_by_name(session, name)
            for state in store.list_crl_states(session):
                if state.issuer_id == issuer.id:
                    state.crl_number -= 1  # as if that commit never happened
    finally:
        other.close()
    assert crl_number_of(written) > crl_number_of(ahead)
    publish_crls(runtime, operator)
    assert crl_number_of(crl_file.read_bytes()) > crl_number_of(written)
