"""Start `pkictl serve ...` as a real subprocess on 127.0.0.1 and a free port, and always stop it.

The server runs in its own process group (granian forks workers), so stopping it kills the whole group:
SIGTERM first, SIGKILL after a grace period. Its output goes to a log file whose tail is shown when it
fails to start.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PKICTL = str(Path(sys.executable).with_name("pkictl"))


# Listening ports of the tests come from below Linux's ephemeral range (32768-60999 by default), one slice per
# xdist worker. A port the kernel hands out for bind(0) is free only until the server binds it a moment later:
# meanwhile any outgoing connection of the machine (to PostgreSQL, to another test's server) may take it as
# its source port, and another worker's bind(0) may draw it too. A CI run lost `serve all --workers 2` that
# way ("[Errno 98] Address already in use" for the port the test had just drawn).
FIRST_PORT = 20_000
PORTS_PER_WORKER = 1_500  # 8 workers: 20000-31999
_drawn = itertools.count()


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... (absent without xdist)
    return int(worker[2:]) % 8 if worker[2:].isdigit() else 0


def free_port() -> int:
    """A port free on 127.0.0.1 right now, from this worker's own slice below the ephemeral range (the server
    binds it a moment later, and no outgoing connection or other worker can take it meanwhile)."""
    base = FIRST_PORT + _worker_index() * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = base + next(_drawn) % PORTS_PER_WORKER
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # still held (a server of an earlier test, TIME_WAIT): the next one
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + PORTS_PER_WORKER - 1}")


def process_environment(environ: Mapping[str, str], **extra: str) -> dict[str, str]:
    """os.environ (PATH, HOME...) without any PKI_* of the developer's shell, plus the test's PKI_* values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKI_")}
    env.update(environ)
    env.update(extra)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return ""


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"pkictl serve exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url(path), timeout=2) as response:
                response.read()
                return
        except urllib.error.HTTPError:
            return  # an HTTP answer, even 404, means the application is loaded and serving
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pkictl serve did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server, grace: float = 10.0) -> None:
    """Kill the server's process group (it is the group leader): TERM, then KILL after `grace` seconds."""
    if server.process.poll() is None:
        try:
            os.killpg(server.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            server.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.process.pid, signal.SIGKILL)  # stray workers, if the leader went first
    except (ProcessLookupError, PermissionError):
        pass
    if server.process.poll() is None:
        server.process.wait(5)


def start_server(
    environ: Mapping[str, str],
    log_dir: Path,
    *,
    service: str = "repository",
    port: int | None = None,
    workers: int = 1,
    ready_path: str = "/pki/root.crt",
    timeout: float = 30.0,
    extra_env: Mapping[str, str] | None = None,
) -> Server:
    """Start `pkictl serve SERVICE --host 127.0.0.1 --port PORT` and wait until it answers HTTP.

    PKI_REPOSITORY__BASE_URL defaults to the server's own address, so issued certificates point at it.
    """
    port = port or free_port()
    env = process_environment(environ, PKI_REPOSITORY__BASE_URL=f"http://127.0.0.1:{port}")
    env.update(extra_env or {})
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"serve-{service}-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [PKICTL, "serve", service, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
    server = Server(process=process, port=port, log=log)
    try:
        _wait_ready(server, ready_path, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


@contextmanager
def running_server(environ: Mapping[str, str], log_dir: Path, **kwargs: object) -> Iterator[Server]:
    server = start_server(environ, log_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop_server(server)
