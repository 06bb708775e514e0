"""Schedules on the monotonic clock (issue 10 item 6), with the monotonic source injected and the wall clock
(the runtime's FixedClock) stepped by hand: real ledger, real signed CRLs, real OCSP answers.

The rule under test: *when* a CRL is republished follows the monotonic clock; a wall-clock step costs at most
one extra publication (the CRL that the step made unusable on the wall clock), never a burst, never a stop.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from ca.errors import BadRequestError
from ca.schedule import Every
from ca.settings import CRLSettings, load_settings
from revocation import crl as crl_uc
from revocation.crl_schedule import CRLSchedule
from revocation.maintenance import MaintenanceThread
from revocation.ocsp import OCSPService, refresh_ocsp
from tests.revocation.helpers import issue
from tests.revocation.test_ocsp_faults import cert_id, ocsp_request


class FakeMonotonic:
    """A monotonic source that only moves when told to (the wall clock is the FixedClock, separately)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


# --- ca.schedule.Every ----------------------------------------------------------------------------------------
def test_every_is_due_once_per_period_without_catch_up():
    mono = FakeMonotonic()
    every = Every(10, monotonic=mono)
    assert every.due() and every.remaining() == 0  # due at start
    every.done()
    assert not every.due() and every.remaining() == 10
    mono.advance(9.5)
    assert not every.due()
    mono.advance(0.5)
    assert every.due()
    # Late by 100 periods (a suspended process): due, runs once, and the next run is a full period away.
    mono.advance(1000)
    assert every.due()
    every.done()
    assert not every.due() and every.remaining() == 10


def test_every_not_due_at_start_and_due_in():
    mono = FakeMonotonic()
    every = Every(5, monotonic=mono, due_now=False)
    assert not every.due() and every.remaining() == 5
    every.due_in(-3)  # a deadline already past: due now, not "3 s ago" worth of runs
    assert every.due()
    every.due_in(2)
    assert not every.due()
    mono.advance(2)
    assert every.due()
    with pytest.raises(ValueError):
        Every(0, monotonic=mono)


def test_refresh_seconds_is_checked_against_the_validity():
    assert CRLSchedule(CRLSettings(validity_hours=2, publish_delay_seconds=1)).period == 3600
    assert CRLSchedule(CRLSettings(validity_hours=2, publish_delay_seconds=1, refresh_seconds=60)).period == 60
    with pytest.raises(BadRequestError, match="refresh_seconds"):
        CRLSettings(validity_hours=1, publish_delay_seconds=1, refresh_seconds=1801)
    with pytest.raises(BadRequestError, match="refresh_seconds"):
        load_settings(None, {"PKI_CRL__REFRESH_SECONDS": "-1"})


# --- CRL publication across wall-clock steps --------------------------------------------------------------------
def _full_number(runtime) -> int:
    path = crl_uc.crl_path(runtime.settings.repository.crl_dir, _issuer_name(runtime), "full")
    return x509.load_der_x509_crl(path.read_bytes()).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _issuer_name(runtime) -> str:
    return crl_uc.publishing_issuers(runtime)[0].name


def _with_refresh(runtime, seconds: int):
    runtime.settings = replace(runtime.settings, crl=replace(runtime.settings.crl, refresh_seconds=seconds))
    return runtime


@pytest.mark.parametrize("step", [timedelta(days=1), -timedelta(days=1)], ids=["forward", "back"])
def test_crl_republication_follows_the_monotonic_clock_across_a_step(runtime, clock, step):
    runtime = _with_refresh(runtime, 60)
    mono = FakeMonotonic()
    schedule = CRLSchedule(runtime.settings.crl, monotonic=mono)

    def passes(count: int, every: float) -> int:
        """`count` maintenance passes `every` seconds apart (both clocks move): the publications made."""
        published = 0
        for _ in range(count):
            mono.advance(every)
            clock.advance(timedelta(seconds=every))
            published += len(crl_uc.publish_due_crls(runtime, runtime_actor(), schedule)) // 2
        return published

    assert len(crl_uc.publish_due_crls(runtime, runtime_actor(), schedule)) == 2  # never published: now
    first = _full_number(runtime)
    assert passes(30, 10) == 5  # 300 s at one pass every 10 s: one publication per 60 s
    clock.advance(step)  # the wall clock jumps; the monotonic clock does not
    # At most one publication for the step (a CRL from "the future" after a step back; past half of its
    # validity, which a day is not of the 168 h default), then the same rate as before.
    after_step = passes(30, 10)
    assert after_step in (5, 6), after_step
    assert passes(1, 0) == 0  # no burst: a pass right after is idle
    assert _full_number(runtime) == first + 2 * (5 + after_step)
    path = crl_uc.crl_path(runtime.settings.repository.crl_dir, _issuer_name(runtime), "full")
    published = x509.load_der_x509_crl(path.read_bytes())
    assert published.last_update_utc <= clock.now() < published.next_update_utc  # valid on the new wall clock


def test_crl_first_sighting_after_a_step_back_is_not_held(runtime, clock):
    """A process that starts after a step back (or sees a CRL published elsewhere) times it from its
    thisUpdate, clamped to one period: it is neither held for the length of the step nor published twice."""
    runtime = _with_refresh(runtime, 60)
    crl_uc.publish_due_crls(runtime, runtime_actor())
    number = _full_number(runtime)
    clock.advance(-timedelta(hours=1))
    mono = FakeMonotonic()
    schedule = CRLSchedule(runtime.settings.crl, monotonic=mono)
    assert len(crl_uc.publish_due_crls(runtime, runtime_actor(), schedule)) == 2  # from the future: replaced
    assert _full_number(runtime) == number + 2
    assert crl_uc.publish_due_crls(runtime, runtime_actor(), schedule) == []
    mono.advance(59)
    assert crl_uc.publish_due_crls(runtime, runtime_actor(), schedule) == []
    mono.advance(1)
    assert len(crl_uc.publish_due_crls(runtime, runtime_actor(), schedule)) == 2


def runtime_actor():
    from ca.actor import SYSTEM

    return SYSTEM


# --- OCSP answers and the responder across a step back ----------------------------------------------------------
def test_ocsp_answers_are_never_served_from_the_future_after_a_step_back(runtime, operator, clock, session_pki):
    """Pre-signed answers and remembered ones signed before a step back have a thisUpdate after the new wall
    time: the responder signs fresh ones, the refresh replaces the stored ones, and the responder certificate
    (issued "in the future") is replaced once."""
    serial = issue(runtime, operator).certificate.serial_number
    request = ocsp_request(cert_id(session_pki.issuer, serial))
    refresh_ocsp(runtime, runtime_actor())
    service = OCSPService(runtime, poll_seconds=0)
    before = ocsp.load_der_ocsp_response(service.respond(body=request).der)
    assert before.this_update_utc == clock.now()
    old_responder = before.certificates[0].serial_number

    clock.advance(-timedelta(days=1))
    after = ocsp.load_der_ocsp_response(service.respond(body=request).der)
    assert after.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert after.this_update_utc == clock.now() < after.next_update_utc
    responder = after.certificates[0]
    assert responder.serial_number != old_responder and responder.not_valid_before_utc <= clock.now()
    # The next answer comes from memory (the same bytes), and the refresh re-signs every stored answer once.
    assert service.respond(body=request).der == service.respond(body=request).der
    assert refresh_ocsp(runtime, runtime_actor()) > 0
    assert refresh_ocsp(runtime, runtime_actor()) == 0


def test_maintenance_thread_uses_the_injected_monotonic_clock(runtime):
    """The loop's OCSP look is due at start, then once per OCSP_REFRESH_SECONDS of monotonic time."""
    mono = FakeMonotonic()
    thread = MaintenanceThread(_with_refresh(runtime, 60), monotonic=mono)
    assert thread.ocsp_refresh.due()
    thread.run_pass()
    assert not thread.ocsp_refresh.due()
    number = _full_number(runtime)
    thread.run_pass()
    assert _full_number(runtime) == number
    mono.advance(60)
    thread.run_pass()
    assert _full_number(runtime) == number + 2
    mono.advance(thread.ocsp_refresh.seconds)
    assert thread.ocsp_refresh.due()
