"""Fault drills (issue 10): real processes, real signals, real ports. Each drill records what it injected,
what it checked and what it measured with the `drill` fixture; `make drill` prints them as a table
(tests/drills/report.py). Every process a drill starts is stopped by the drill, whatever happens."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import PKICTL, free_port, process_environment

SERVICES = ("repository", "portal", "frontoffice", "acme", "api-mtls")
READY_TIMEOUT = 60.0


@dataclass
class Drill:
    """What a drill injected, checked and measured; kept in the test's user_properties as it goes, so the
    call report (and `make drill`'s table) carries it."""

    properties: list[tuple[str, object]]
    injected: str = ""
    checked: str = ""
    figures: dict[str, str] = field(default_factory=dict)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name in ("injected", "checked") and "figures" in self.__dict__:
            self._sync()

    def figure(self, name: str, value: float | int | str, unit: str = "") -> None:
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        self.figures[name] = text + (f" {unit}" if unit else "")
        self._sync()

    def _sync(self) -> None:
        self.properties[:] = [p for p in self.properties if p[0] != "drill"]
        self.properties.append(("drill", json.dumps({"injected": self.injected, "checked": self.checked,
                                                     "figures": self.figures})))


@pytest.fixture
def drill(request: pytest.FixtureRequest) -> Drill:
    return Drill(request.node.user_properties)


def pkictl(cwd: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PKICTL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@dataclass
class Site:
    """A directory after `pkictl quickstart`, with the embedded default settings (relative paths)."""

    directory: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    directory = tmp_path_factory.mktemp("site")
    env = process_environment({})
    result = pkictl(directory, env, "quickstart")
    assert result.returncode == 0, result.stderr
    return Site(directory, env)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (this machine's init may reap late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def group_members(pgids: set[int]) -> list[int]:
    """Live processes whose process group is one of `pgids` (the children and their workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            members.append(int(entry.name))
    return members


_PID = re.compile(r"serve all: (?:re)?started ([\w-]+) \(pid (\d+)\)")


class ServeAll:
    """`pkictl serve all` in `site` on free ports, its output in a log; knows every child it started."""

    def __init__(self, site: Site, log: Path, *, ports: dict[str, int] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.ports = ports or {name: free_port() for name in SERVICES}
        self.env = {**site.env, "PKI_REPOSITORY__PORT": str(self.ports["repository"]),
                    "PKI_PORTAL__PORT": str(self.ports["portal"]),
                    "PKI_FRONTOFFICE__PORT": str(self.ports["frontoffice"]),
                    "PKI_ACME__PORT": str(self.ports["acme"]),
                    "PKI_OAUTH__MTLS_PORT": str(self.ports["api-mtls"]),
                    "PKI_REPOSITORY__BASE_URL": f"http://127.0.0.1:{self.ports['repository']}"}
        self.log = log
        self.statuses: list[int] = []
        with open(log, "wb") as out:
            self.process = subprocess.Popen([PKICTL, "serve", "all", *args], cwd=site.directory, env=self.env,
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def children(self) -> dict[str, list[int]]:
        """Every pid `serve all` logged for each service, in order."""
        seen: dict[str, list[int]] = {}
        for name, pid in _PID.findall(self.text()):
            seen.setdefault(name, []).append(int(pid))
        return seen

    def child_pids(self) -> set[int]:
        return {pid for pids in self.children().values() for pid in pids}

    def url(self, service: str, path: str) -> str:
        scheme = "https" if service in ("frontoffice", "acme", "api-mtls") else "http"
        return f"{scheme}://127.0.0.1:{self.ports[service]}{path}"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Until the repository and the portal answer HTTP and the front office accepts connections."""
        started = time.monotonic()
        while not self.ready():
            assert self.process.poll() is None, f"serve all exited with {self.process.returncode}:\n{self.text()}"
            assert time.monotonic() - started < timeout, f"not ready within {timeout} s:\n{self.text()}"
            time.sleep(0.1)
        return time.monotonic() - started

    def status(self, url: str) -> int | None:
        """The HTTP status of a GET (None: no answer); every status seen is kept for the no-500 check."""
        status = http_status(url)
        if status is not None:
            self.statuses.append(status)
        return status

    def ready(self) -> bool:
        return (self.status(self.url("repository", "/pki/root.crt")) == 200
                and self.status(self.url("portal", "/login")) == 200
                and listening(self.ports["frontoffice"]) and listening(self.ports["acme"])
                and listening(self.ports["api-mtls"]))

    def assert_no_500(self) -> None:
        assert not [s for s in self.statuses if s >= 500], self.statuses
        assert "Internal Server Error" not in self.text() and "Traceback" not in self.text(), self.text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Send `sig` to serve all only; the seconds until it exited (fails past `timeout`)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve all still running {timeout} s after {signal.Signals(sig).name}:\n{self.text()}")
        return time.monotonic() - started

    def cleanup(self) -> None:
        """Whatever the drill did: no process of ours survives it."""
        for pgid in [self.process.pid, *self.child_pids()]:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.process.poll() is None:
            self.process.wait(10)


@pytest.fixture
def serve_all(site: Site, tmp_path: Path) -> Iterator[list[ServeAll]]:
    """Start with `started.append(ServeAll(site, log))`; all of them are cleaned up at the end."""
    started: list[ServeAll] = []
    yield started
    for server in started:
        server.cleanup()
