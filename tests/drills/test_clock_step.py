"""Drill: the wall clock of the repository process steps a day forward, then a day back (issue 10 item 6).

The repository (`pkictl serve repository`, with its maintenance loop) runs under libfaketime (Debian
`libfaketime`): LD_PRELOAD fakes the wall clock from FAKETIME_TIMESTAMP_FILE, re-read at every call
(FAKETIME_NO_CACHE=1), and leaves CLOCK_MONOTONIC alone (FAKETIME_DONT_FAKE_MONOTONIC=1), as an NTP step or
`date -s` would. The drill rewrites the file mid-run and watches the repository over HTTP only:

- CRLs: the full CRL's number advances at the rate of `crl.refresh_seconds` in every phase (no stop after
  the step back, no burst after the step forward; at most one extra publication for the step), and each new
  CRL's thisUpdate is the process's (faked) wall time: what goes into a CRL is wall-clock time.
- OCSP: the answer to the same request is, after each step, signed by a responder the issuer certified and
  valid at the process's wall time (thisUpdate not after it, nextUpdate after it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from tests.drills.conftest import Drill
from tests.revocation.helpers import issue
from tests.revocation.test_ocsp_faults import GOOD, _checked, cert_id, http_asker, ocsp_request
from tests.support.server import running_server
from tests.support.tools import require

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
REFRESH_SECONDS = 4  # crl.refresh_seconds in the drill; the maintenance pass runs every second
PHASE_SECONDS = 14.0
SKEW = timedelta(seconds=5)  # what "at the process's wall time" allows for the 2 s repository table and a pass


def _crl_url(base_url: str, issuer_name: str) -> str:
    return f"{base_url}/pki/crl/{issuer_name}.crl"


def _fetch_crl(url: str) -> x509.CertificateRevocationList:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return x509.load_der_x509_crl(response.read())


def _number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def test_wall_clock_steps_neither_stop_nor_flood_publication(runtime, operator, environ, session_pki, tmp_path,
                                                            drill: Drill):
    require(LIBFAKETIME.exists(), "libfaketime is not installed (Debian packages faketime libfaketime)")
    serial = issue(runtime, operator).certificate.serial_number
    request = ocsp_request(cert_id(session_pki.issuer, serial))
    offset_file = tmp_path / "faketime"
    offset_file.write_text("+0d\n")
    env = {**environ, "PKI_CRL__REFRESH_SECONDS": str(REFRESH_SECONDS), "PKI_CRL__PUBLISH_DELAY_SECONDS": "1",
           "PKI_CRL__VALIDITY_HOURS": "24", "PKI_OCSP__VALIDITY_HOURS": "24",
           "LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset_file), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    drill.injected = "repository under libfaketime: wall clock +1 day, then -1 day (monotonic untouched)"
    drill.checked = ("CRL number over HTTP advances at the refresh rate in each phase (no stop, no burst), "
                     "thisUpdate = faked wall time; OCSP answers signed and valid at the faked time")
    phases = [("start", timedelta(0)), ("+1 day", timedelta(days=1)), ("back -1 day", timedelta(0))]
    with running_server(env, tmp_path / "logs", ready_path="/healthz", timeout=60) as server:
        ask = http_asker(server.base_url)
        url = _crl_url(server.base_url, session_pki.issuer_name)
        first = None
        deadline = time.monotonic() + 15
        while first is None:  # the first maintenance pass publishes the issuer's first CRL
            try:
                first = _fetch_crl(url)
            except OSError:
                assert time.monotonic() < deadline, server.log_tail()
                time.sleep(0.2)
        published: dict[str, int] = {}
        statuses: list[int] = []
        for name, offset in phases:
            offset_file.write_text(f"+{int(offset.total_seconds())}\n")
            started = time.monotonic()
            start_number = _number(_fetch_crl(url))
            time.sleep(2.5)  # past a maintenance pass and the repository's 2 s table refresh
            fresh_seen = 0
            while time.monotonic() - started < PHASE_SECONDS:
                crl = _fetch_crl(url)
                wall = datetime.now(UTC) + offset  # the process's wall clock
                age = wall - crl.last_update_utc
                assert -SKEW <= age <= timedelta(seconds=REFRESH_SECONDS) + SKEW, (name, crl.last_update_utc, wall)
                assert crl.next_update_utc is not None and wall < crl.next_update_utc
                fresh_seen += 1
                reply = ask("POST", request)
                statuses.append(reply.status)
                answer = _checked(reply.ocsp(), session_pki.issuer, serial)
                assert answer.certificate_status == GOOD
                assert answer.this_update_utc <= wall + timedelta(seconds=1), (name, answer.this_update_utc, wall)
                assert answer.next_update_utc is not None and wall < answer.next_update_utc, (name, wall)
                (responder,) = answer.certificates
                assert responder.not_valid_before_utc <= wall + timedelta(seconds=1) < responder.not_valid_after_utc
                time.sleep(0.5)
            advanced = _number(_fetch_crl(url)) - start_number
            assert advanced % 2 == 0  # each publication is a full CRL and its delta, from one sequence
            published[name] = advanced // 2
            assert fresh_seen >= 10
        log = server.log_tail(100_000)
    expected = PHASE_SECONDS / REFRESH_SECONDS
    for count in published.values():
        # Passes are 1 s apart, so a period is 4 to 5 s: 2 to 4 publications in 14 s, plus one for a step.
        assert 2 <= count <= int(expected) + 2, (published, log[-3000:])
    assert "Traceback" not in log, log[-3000:]
    assert set(statuses) == {200}, statuses
    for name, count in published.items():
        drill.figure(f"CRLs {name}", count, f"in {PHASE_SECONDS:.0f} s")
    drill.figure("expected", f"~{expected:.1f} (+1 at a step)")
    drill.figure("OCSP answers checked", len(statuses))
    print(f"\n[drill] clock step: CRLs published per {PHASE_SECONDS:.0f} s phase {published} "
          f"(refresh every {REFRESH_SECONDS} s); {len(statuses)} OCSP answers valid at the faked time")
