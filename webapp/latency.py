"""Process settings for a latency-bound service worker (the OCSP responder: p99 ≤ 5 ms, issue 14 item 3).

- The GIL's switch interval: a thread running Python keeps the interpreter until it blocks or for
  `sys.getswitchinterval()` (5 ms by default), so a background pass in the worker (the maintenance loop's
  after-the-fact pkilint, a CRL publication) could hold an answer back by 5 ms at a time. 1 ms bounds it.
- The garbage collector: everything loaded at start (modules, settings, the runtime and its engine) is
  moved out of the collected generations (gc.freeze), so a full collection walks only what requests
  allocate instead of the whole heap.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_SECONDS = 0.001


def settle_for_latency() -> None:
    """Call once the worker's application is built, before it serves."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    gc.collect()
    gc.freeze()
