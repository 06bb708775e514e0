"""The supervisor behind `pkictl serve all` (issue 10): it owns one child process per service.

- Each child runs in its own session (its own process group), so a Ctrl-C on the terminal reaches only the
  supervisor, which decides, and so that a child's own workers (granian, gunicorn) can be stopped with it.
  On Linux each child also gets PR_SET_PDEATHSIG=SIGTERM: if the supervisor itself is killed with SIGKILL,
  every child is told to stop gracefully, its ports are freed and `pkictl serve all` can simply be started
  again (elsewhere, stop the orphans by their process group).
- SIGTERM or SIGINT to the supervisor: SIGTERM to every child (gunicorn and granian finish their in-flight
  requests), wait up to `grace` seconds, SIGKILL the process groups of stragglers, exit 0. A second signal
  while stopping kills the stragglers at once.
- A child that exits on its own is logged and restarted after a backoff (0.5 s doubling to 8 s); a service
  that crashed `max_crashes` times within `window` seconds makes the supervisor give up: it stops the other
  children and exits 1.

Only the standard library: subprocess, signal, time. Log lines go to stderr, prefixed `serve all:`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

GRACE = 8.0  # below the 10 s in which `serve all` must be gone after SIGTERM
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0
MAX_CRASHES = 5
WINDOW = 60.0
TICK = 0.05


def log(message: str) -> None:
    sys.stderr.write(f"serve all: {message}\n")
    sys.stderr.flush()


def _die_with_parent(parent: int) -> Callable[[], None]:
    """preexec_fn: ask the kernel to send SIGTERM when the supervisor dies (Linux prctl PR_SET_PDEATHSIG)."""

    def setup() -> None:
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
            if os.getppid() != parent:  # the supervisor died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)

    return setup


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    crashes: deque[float] = field(default_factory=deque)
    restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, start_new_session=True,
                                        preexec_fn=_die_with_parent(os.getpid()))
        self.restart_at = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Supervisor:
    children: list[Child]
    grace: float = GRACE
    first_backoff: float = FIRST_BACKOFF
    max_backoff: float = MAX_BACKOFF
    max_crashes: int = MAX_CRASHES
    window: float = WINDOW
    _stop_signal: int | None = None
    _signals_seen: int = 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals_seen += 1
        if self._stop_signal is None:
            self._stop_signal = signum

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                child.start()
                assert child.process is not None
                log(f"started {child.name} (pid {child.process.pid})")
            code = self._watch()
            self._stop_all()
            return code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _watch(self) -> int:
        while self._stop_signal is None:
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.start()
                        assert child.process is not None
                        log(f"restarted {child.name} (pid {child.process.pid})")
                    continue
                assert child.process is not None
                returncode = child.process.poll()
                if returncode is None:
                    continue
                _kill_group(child.process.pid, signal.SIGKILL)  # workers left behind by the dead child
                child.crashes.append(now)
                while child.crashes and child.crashes[0] < now - self.window:
                    child.crashes.popleft()
                count = len(child.crashes)
                if count >= self.max_crashes:
                    log(f"{child.name} (pid {child.process.pid}) {_describe(returncode)}: {count} crashes within "
                        f"{self.window:.0f} s, giving up")
                    return 1
                delay = min(self.max_backoff, self.first_backoff * 2 ** (count - 1))
                log(f"{child.name} (pid {child.process.pid}) {_describe(returncode)} (crash {count} within "
                    f"{self.window:.0f} s); restarting in {delay:g} s")
                child.restart_at = now + delay
            time.sleep(TICK)
        log(f"{signal.Signals(self._stop_signal).name} received, stopping the services")
        return 0

    def _stop_all(self) -> None:
        started = time.monotonic()
        live = [c for c in self.children if c.running]
        for child in live:
            assert child.process is not None
            try:
                child.process.send_signal(signal.SIGTERM)  # the server's own graceful stop
            except ProcessLookupError:
                pass
        seen = self._signals_seen
        deadline = started + self.grace
        while any(c.running for c in live) and time.monotonic() < deadline and self._signals_seen == seen:
            time.sleep(TICK)
        for child in self.children:
            if child.process is None:
                continue
            if child.process.poll() is None:
                log(f"{child.name} (pid {child.process.pid}) still running after {time.monotonic() - started:.1f} s:"
                    " SIGKILL")
            _kill_group(child.process.pid, signal.SIGKILL)  # stragglers and any worker left in the group
            child.process.wait()
        log(f"all services stopped in {time.monotonic() - started:.1f} s")


def supervise(services: Sequence[tuple[str, list[str]]]) -> int:
    """Run every (name, argv) under one Supervisor until a signal or a give-up; the exit code."""
    return Supervisor([Child(name, argv) for name, argv in services]).run()
