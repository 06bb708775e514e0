"""Background upkeep in the repository process: publish due CRLs (debounced after revocations, and before
half of their validity), renew responder certificates and re-sign OCSP answers past half-life.

Rebuilding a CRL on every revocation costs seconds at scale (Vault #9176); here a revocation only marks the
CRL dirty and this loop publishes at most once per `crl.publish_delay_seconds`.
"""

from __future__ import annotations

import logging
import threading
import time

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


class MaintenanceThread(threading.Thread):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(name="pki-maintenance", daemon=True)
        self.runtime = runtime
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
            self.stop_event.wait(interval)
