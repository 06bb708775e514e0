"""Serving the front office (issue 5). Why two servers is explained in docs/frontoffice.md; in short:

- `direct` mode: cheroot with pyOpenSSL (webapp/frontoffice/direct_server.py), because the gate needs the
  client certificate of the connection and OpenSSL's verdict on it, also when verification failed (issue 15
  item 5: an expired or foreign certificate gets its refusal page). Python's `ssl` (gunicorn) aborts such
  handshakes; granian gives the application no way to read the certificate (granian issues #788 and #854).
- `proxy` mode: nginx terminates mutual TLS (its handshakes are the cheapest we measured with a client
  certificate) and granian serves the gate over plain HTTP on a loopback address.

This module holds the two application factories; the TLS context of direct mode is in
`webapp/frontoffice/direct_tls.py`.
"""

from __future__ import annotations

import logging
import os
import threading

from ca.logs import configure_logging
from ca.runtime import Runtime, build_runtime
from ca.settings import load_settings
from enrollment.access.tls import write_client_ca_bundle
from webapp.frontoffice import Gate, create_frontoffice

log = logging.getLogger("pki.frontoffice")
BUNDLE_REFRESH_SECONDS = 60.0
# granian runs WSGI calls on a pool of Python threads fed from its Rust event loop; the pool grows past one
# thread whenever two requests are queued at once. The gate is CPU-bound Python (a decision held is a
# lookup), so a second thread only hands the GIL around: one thread per worker costs 73 us of backend CPU
# per keep-alive request against 109 us with 4 (bench/bench_frontoffice.py, same run). A ledger read (a
# decision not held, the change feed every half bound) holds up that worker's other requests for its
# milliseconds; run more workers (`--workers`) for more concurrency.
GRANIAN_BLOCKING_THREADS = 1


def _refresh_bundle_forever(runtime: Runtime, with_root: bool, stop: threading.Event) -> None:
    """A newly installed issuer becomes a trust anchor without a restart (ServerContext sees the file)."""
    while not stop.wait(BUNDLE_REFRESH_SECONDS):
        try:
            write_client_ca_bundle(runtime, with_root=with_root)
        except Exception:  # noqa: BLE001  (a transient ledger error must not stop the refresher)
            log.exception("could not refresh the client CA bundle")


def _app(mode: str) -> Gate:
    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "frontoffice")
    runtime = build_runtime(settings, migrate=False)
    stop = threading.Event()
    threading.Thread(target=_refresh_bundle_forever, args=(runtime, mode == "proxy", stop),
                     name="client-ca-refresh", daemon=True).start()
    return create_frontoffice(runtime, mode=mode)


def direct_app() -> Gate:
    """The direct-mode application (each worker of webapp/frontoffice/direct_server.py builds one)."""
    return _app("direct")


def proxy_app() -> Gate:
    """granian factory: plain HTTP behind nginx; certificates from the trusted proxy's header."""
    return _app("proxy")


def serve_proxy(address: str, port: int, workers: int) -> None:
    """granian behind nginx, tuned for the gate (bench/bench_frontoffice.py measures it against nginx):
    WSGI (RSGI through a thin adapter measured slower here: granian hands each call to an asyncio loop in
    another thread either way, and the pure-Python loop costs more than the thread pool), one thread per
    worker (GRANIAN_BLOCKING_THREADS), HTTP/1.1 only (nginx's upstream keepalive connections), no access
    log (nginx keeps one)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    Granian("webapp.frontoffice_server:proxy_app", address=address, port=port, interface=Interfaces.WSGI,
            factory=True, workers=workers, blocking_threads=GRANIAN_BLOCKING_THREADS, http=HTTPModes.http1,
            log_enabled=False).serve()


if __name__ == "__main__":  # `pkictl serve frontoffice` in proxy mode execs this (cli may not import webapp)
    import sys

    serve_proxy(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
