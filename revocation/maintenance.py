"""Background upkeep in the repository process: publish due CRLs (debounced after revocations, and before
half of their validity), renew responder certificates and re-sign OCSP answers past half-life.

Rebuilding a CRL on every revocation costs seconds at scale (Vault #9176); here a revocation only marks the
CRL dirty and this loop publishes at most once per `crl.publish_delay_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ca.actor import SYSTEM
from ca.errors import LedgerUnavailableError
from ca.runtime import Runtime
from ca.schedule import Every, Monotonic
from revocation.crl import publish_due_crls
from revocation.crl_schedule import CRLSchedule
from revocation.ocsp import refresh_ocsp

log = logging.getLogger(__name__)
OCSP_REFRESH_SECONDS = 3600.0


def run_once(runtime: Runtime, *, refresh_ocsp_answers: bool, crl_schedule: CRLSchedule | None = None) -> None:
    published = publish_due_crls(runtime, SYSTEM, crl_schedule)
    for crl in published:
        log.info("published %s CRL #%d for %s (%d entries)", crl.kind, crl.crl_number, crl.issuer, crl.entries)
    if refresh_ocsp_answers:
        refresh_ocsp(runtime, SYSTEM)


Job = Callable[[Runtime], object]


def run_jobs(runtime: Runtime, jobs: Sequence[Job]) -> None:
    """The adapters' extra work (e.g. enrollment's certificate-life notices, issue 11), each on its own:
    one job failing neither stops the others nor the CRL and OCSP upkeep."""
    for job in jobs:
        try:
            job(runtime)
        except LedgerUnavailableError as error:
            log.warning("maintenance job %s skipped until the next pass: %s", type(job).__name__, error)
        except Exception:  # noqa: BLE001  (the next pass retries)
            log.exception("maintenance job %s failed", type(job).__name__)


class MaintenanceThread(threading.Thread):
    """Every schedule of the loop is on the monotonic clock (ca.schedule, issue 10 item 6): the pass every
    `crl.publish_delay_seconds` (Event.wait counts monotonic time), the OCSP re-signing look every
    OCSP_REFRESH_SECONDS, each CRL's refresh (revocation.crl_schedule). A failed pass is retried at the next
    one, and a late pass runs once: no catch-up burst. The adapters' `jobs` run after each pass."""

    def __init__(self, runtime: Runtime, jobs: Sequence[Job] = (), *, monotonic: Monotonic = time.monotonic) -> None:
        super().__init__(name="pki-maintenance", daemon=True)
        self.runtime = runtime
        self.jobs = tuple(jobs)
        self.stop_event = threading.Event()
        self.interval = max(1, runtime.settings.crl.publish_delay_seconds)
        self.ocsp_refresh = Every(OCSP_REFRESH_SECONDS, monotonic=monotonic)
        self.crl_schedule = CRLSchedule(runtime.settings.crl, monotonic=monotonic)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.run_pass()
            self.stop_event.wait(self.interval)

    def run_pass(self) -> None:
        interval = self.interval
        refresh = self.ocsp_refresh.due()
        try:
            run_once(self.runtime, refresh_ocsp_answers=refresh, crl_schedule=self.crl_schedule)
            if refresh:
                self.ocsp_refresh.done()
        except LedgerUnavailableError as error:  # an outage: one line, and the next pass retries
            log.warning("maintenance pass skipped, retrying in %d s: %s", interval, error)
        except OSError as error:  # a CRL write failed (disk full...): the previous file stays served
            log.error("maintenance pass failed, retrying in %d s: %s", interval, error)
        except Exception:  # noqa: BLE001  (keep serving; the next pass retries)
            log.exception("maintenance pass failed")
        run_jobs(self.runtime, self.jobs)
