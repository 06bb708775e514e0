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
from revocation.crl import publish_due_crls
from revocation.ocsp import refresh_ocsp

log = logging.getLogger(__name__)
OCSP_REFRESH_SECONDS = 3600.0


def run_once(runtime: Runtime, *, refresh_ocsp_answers: bool) -> None:
    published = publish_due_crls(runtime, SYSTEM)
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
    def __init__(self, runtime: Runtime, jobs: Sequence[Job] = ()) -> None:
        super().__init__(name="pki-maintenance", daemon=True)
        self.runtime = runtime
        self.jobs = tuple(jobs)
        self.stop_event = threading.Event()

    def run(self) -> None:
        interval = max(1, self.runtime.settings.crl.publish_delay_seconds)
        last_ocsp = 0.0
        while not self.stop_event.is_set():
            refresh = time.monotonic() - last_ocsp > OCSP_REFRESH_SECONDS
            try:
                run_once(self.runtime, refresh_ocsp_answers=refresh)
                if refresh:
                    last_ocsp = time.monotonic()
            except LedgerUnavailableError as error:  # an outage: one line, and the next pass retries
                log.warning("maintenance pass skipped, retrying in %d s: %s", interval, error)
            except OSError as error:  # a CRL write failed (disk full...): the previous file stays served
                log.error("maintenance pass failed, retrying in %d s: %s", interval, error)
            except Exception:  # noqa: BLE001  (keep serving; the next pass retries)
                log.exception("maintenance pass failed")
            run_jobs(self.runtime, self.jobs)
            self.stop_event.wait(interval)
