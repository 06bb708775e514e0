"""Supervision drills: `pkictl serve all` owns its three children (cli/supervise.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.drills.conftest import SERVICES, ServeAll, group_members, listening
from tests.support.server import PKICTL, free_port, process_environment
from tests.support.tools import require_tool

STOP_LIMIT = 10.0


def _assert_nothing_left(server: ServeAll) -> None:
    pgids = server.child_pids()
    assert len(pgids) >= 3, server.text()
    deadline = time.monotonic() + 2
    while (left := group_members(pgids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}\n{server.text()}"
    assert not [name for name, port in server.ports.items() if listening(port)], server.text()


def _no_500(server: ServeAll) -> None:
    server.assert_no_500()


class InFlight:
    """An OCSP POST to the repository whose body is half sent: the server is inside the request."""

    BODY = b"\x30" * 40  # not an OCSP request: the answer is malformedRequest, still HTTP 200

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (f"POST /pki/ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                f"Content-Length: {len(self.BODY)}\r\nConnection: close\r\n\r\n").encode()
        self.sock.sendall(head + self.BODY[:10])
        time.sleep(0.3)  # the server has read the head and waits for the rest

    def finish(self) -> bytes:
        try:
            self.sock.sendall(self.BODY[10:])
            answer = b""
            while chunk := self.sock.recv(65536):
                answer += chunk
            return answer
        finally:
            self.sock.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_every_child(site, serve_all, tmp_path, drill, sig):
    drill.injected = f"{sig.name} to serve all, one request in flight"
    drill.checked = "exit 0 < 10 s, in-flight answered, no child or port left"
    server = ServeAll(site, tmp_path / "serve.log")
    serve_all.append(server)
    drill.figure("ready", server.wait_ready(), "s")
    request = InFlight(server.ports["repository"])
    started = time.monotonic()
    server.process.send_signal(sig)
    time.sleep(0.5)
    answer = request.finish()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"application/ocsp-response" in answer.split(b"\r\n\r\n")[0]
    try:
        server.process.wait(STOP_LIMIT - (time.monotonic() - started))
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve all still running {STOP_LIMIT} s after {sig.name}:\n{server.text()}")
    stop_time = time.monotonic() - started
    assert server.process.returncode == 0, server.text()
    _assert_nothing_left(server)
    _no_500(server)
    drill.figure("stop time", stop_time, "s")
    drill.figure("in-flight", "200")


@pytest.mark.parametrize("victim", SERVICES)
def test_kill_9_of_a_child_is_restarted(site, serve_all, tmp_path, drill, victim):
    drill.injected = f"kill -9 of the {victim} child"
    drill.checked = "restarted, serves again; then SIGTERM leaves nothing"
    server = ServeAll(site, tmp_path / "serve.log")
    serve_all.append(server)
    server.wait_ready()
    [first] = server.children()[victim]
    killed = time.monotonic()
    os.kill(first, signal.SIGKILL)
    while listening(server.ports[victim]) and time.monotonic() - killed < 5:
        time.sleep(0.02)  # the old listener is gone (its workers are killed with its group)
    while not server.ready():
        assert server.process.poll() is None, server.text()
        assert time.monotonic() - killed < 30, f"{victim} not back within 30 s:\n{server.text()}"
        time.sleep(0.05)
    restart_time = time.monotonic() - killed
    pids = server.children()[victim]
    assert len(pids) == 2 and pids[0] == first, server.text()
    assert f"{victim} (pid {first}) killed by SIGKILL" in server.text()
    if victim in ("repository", "portal"):
        assert server.status(server.url(victim, "/pki/root.crt" if victim == "repository" else "/login")) == 200
    stop_time = server.stop(signal.SIGTERM)
    assert server.process.returncode == 0
    _assert_nothing_left(server)
    _no_500(server)
    drill.figure("restart time", restart_time, "s")
    drill.figure("restarts", len(pids) - 1)
    drill.figure("stop time", stop_time, "s")


def test_a_child_that_keeps_crashing_makes_serve_all_give_up(site, serve_all, tmp_path, drill):
    drill.injected = "portal's port taken by another process: the portal crashes at every start"
    drill.checked = "restarted with backoff, then serve all gives up, exit 1, nothing left"
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        ports = {"repository": 0, "portal": blocker.getsockname()[1], "frontoffice": 0, "acme": 0, "api-mtls": 0}
        ports.update({k: free_port() for k, v in ports.items() if not v})
        started = time.monotonic()
        server = ServeAll(site, tmp_path / "serve.log", ports=ports)
        serve_all.append(server)
        try:
            server.process.wait(120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve all did not give up within 120 s:\n{server.text()}")
        elapsed = time.monotonic() - started
        assert server.process.returncode == 1, server.text()
        log = server.text()
        assert "5 crashes within 60 s, giving up" in log, log
        restarts = log.count("serve all: restarted portal")
        assert restarts == 4 and len(server.children()["portal"]) == 5, log
        delays = [float(d) for d in re.findall(r"portal .* restarting in ([\d.]+) s", log)]
        assert delays == [0.5, 1, 2, 4], delays
        pgids = server.child_pids()
        assert not group_members(pgids), log
        assert not listening(ports["repository"]) and not listening(ports["frontoffice"]), log
    finally:
        blocker.close()
    drill.figure("crashes before giving up", 5)
    drill.figure("restarts", restarts)
    drill.figure("backoff", "/".join(f"{d:g}" for d in delays), "s")
    drill.figure("gave up after", elapsed, "s")


def test_kill_9_of_serve_all_frees_the_ports_for_a_restart(site, serve_all, tmp_path, drill):
    drill.injected = "kill -9 of serve all itself"
    drill.checked = "children stop (PDEATHSIG), ports freed, serve all starts again"
    server = ServeAll(site, tmp_path / "first.log")
    serve_all.append(server)
    server.wait_ready()
    killed = time.monotonic()
    server.process.kill()
    server.process.wait(5)
    pgids = server.child_pids()
    while (group_members(pgids) or any(listening(p) for p in server.ports.values())) and \
            time.monotonic() - killed < 10:
        time.sleep(0.05)
    freed = time.monotonic() - killed
    assert not group_members(pgids), server.text()
    assert not [p for p in server.ports.values() if listening(p)]
    again = ServeAll(site, tmp_path / "second.log", ports=server.ports)
    serve_all.append(again)
    again.wait_ready()
    back = time.monotonic() - killed
    again.stop(signal.SIGTERM)
    _assert_nothing_left(again)
    drill.figure("children gone", freed, "s")
    drill.figure("serving again", back, "s")


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("how", ["Ctrl-C", "kill PID"])
def test_stopping_make_run_leaves_nothing_listening(tmp_path, drill, how):
    drill.injected = ("SIGINT to make run's process group (a terminal's Ctrl-C)" if how == "Ctrl-C"
                      else "SIGTERM to make's PID (`kill PID`)")
    drill.checked = "make exits < 10 s, no child or port left"
    ports = {name: free_port() for name in SERVICES}
    env = process_environment({"PKI_REPOSITORY__PORT": str(ports["repository"]),
                               "PKI_PORTAL__PORT": str(ports["portal"]),
                               "PKI_FRONTOFFICE__PORT": str(ports["frontoffice"]),
                               "PKI_ACME__PORT": str(ports["acme"]),
                               "PKI_OAUTH__MTLS_PORT": str(ports["api-mtls"])})
    log = tmp_path / "make-run.log"
    site = tmp_path / "site"
    site.mkdir()
    with open(log, "wb") as out:
        make = subprocess.Popen([require_tool("make"), "--no-print-directory", "run", f"RUN_DIR={site}"], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    server = ServeAll.__new__(ServeAll)  # only for its log parsing and readiness checks
    server.ports, server.log, server.process, server.statuses = ports, log, make, []
    try:
        server.wait_ready(120)
        started = time.monotonic()
        if how == "Ctrl-C":
            os.killpg(make.pid, signal.SIGINT)
        else:
            make.send_signal(signal.SIGTERM)
        try:
            make.wait(STOP_LIMIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make run still running {STOP_LIMIT} s after {how}:\n{server.text()}")
        stop_time = time.monotonic() - started
        _assert_nothing_left(server)
        _no_500(server)
    finally:
        server.cleanup()
    drill.figure("stop time", stop_time, "s")
    drill.figure("make exit", make.returncode)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("service", SERVICES)
def test_one_service_alone_stops_on_the_same_signals(site, tmp_path, drill, service, sig):
    drill.injected = f"{sig.name} to `pkictl serve {service} --workers 2` (as systemd runs it)"
    drill.checked = "exit < 10 s, workers gone, port closed"
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([PKICTL, "serve", service, "--port",
                                    str(port), "--workers", "2"], cwd=site.directory, env=site.env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)  # every worker up
        members = group_members({process.pid})
        assert len(members) >= 3, members  # the server and its two workers
        started = time.monotonic()
        process.send_signal(sig)
        try:
            process.wait(STOP_LIMIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve {service} still running {STOP_LIMIT} s after {sig.name}:\n{log.read_text()}")
        stop_time = time.monotonic() - started
        deadline = time.monotonic() + 2
        while (left := group_members({process.pid})) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left and not listening(port), log.read_text()
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait(10)
    drill.figure("stop time", stop_time, "s")
    drill.figure("exit", process.returncode)
