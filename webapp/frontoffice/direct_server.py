"""The front office's own HTTPS server in direct mode: cheroot (CherryPy's WSGI server) with pyOpenSSL,
so that a certificate that fails verification reaches the gate (webapp/frontoffice/direct_tls.py).

Worker model, as gunicorn's was: one main process and `--workers` worker processes, each a cheroot server
(`frontoffice.threads` threads) bound to the same address with SO_REUSEPORT, so the kernel spreads the
connections. The main process restarts a worker that dies and, on SIGTERM or SIGINT, stops them all: each
worker finishes its in-flight requests (cheroot's `stop`), stragglers are killed after GRACE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from cheroot import wsgi

log = logging.getLogger("pki.frontoffice")
GRACE_SECONDS = 5.0
RESTART_DELAY_SECONDS = 0.5


def _worker(host: str, port: int) -> None:
    """One worker process: build the application, then serve until SIGTERM."""
    from ca.settings import load_settings
    from webapp.frontoffice.direct_tls import ContextHolder, VerdictAdapter
    from webapp.frontoffice_server import direct_app

    settings = load_settings(None, os.environ).frontoffice
    app = direct_app()
    server = wsgi.Server((host, port), app, numthreads=settings.threads, reuse_port=True,
                         server_name="pkictl-frontoffice")
    server.shutdown_timeout = GRACE_SECONDS
    server.ssl_adapter = VerdictAdapter(ContextHolder(settings))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.prepare()
    server.serve()


def _spawn(host: str, port: int) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _worker(host, port)
        except BaseException:  # noqa: BLE001  (a worker reports and exits; the main process restarts it)
            log.exception("front-office worker failed")
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)
    return pid


def serve(host: str, port: int, workers: int) -> int:
    """Run `workers` worker processes until SIGTERM/SIGINT; the exit status of the main process."""
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children = {_spawn(host, port) for _ in range(workers)}
    while not stopping.is_set():
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid and pid in children:
            children.discard(pid)
            log.warning("front-office worker %s exited; starting another", pid)
            time.sleep(RESTART_DELAY_SECONDS)
            if not stopping.is_set():
                children.add(_spawn(host, port))
        stopping.wait(0.2)
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS + 1
    while children and time.monotonic() < deadline:
        for pid in list(children):
            if os.waitpid(pid, os.WNOHANG)[0]:
                children.discard(pid)
        time.sleep(0.05)
    for pid in children:
        _signal(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return 0


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    raise SystemExit(serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
