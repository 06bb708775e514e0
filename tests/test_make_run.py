"""Acceptance: `make run` ends with the service answering on localhost and the quickstart summary printed;
a second `make run` in the same directory changes nothing (the quickstart is idempotent)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[1]
SUMMARY = "Portail PKI quickstart summary"
DEADLINE = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(port: int) -> dict[str, str]:
    """The caller's environment without any PKI_* setting that could point the demo elsewhere; free ports
    for the three services `make run` starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKI_")}
    env["PKI_REPOSITORY__PORT"] = str(port)
    env["PKI_PORTAL__PORT"] = str(_free_port())
    env["PKI_FRONTOFFICE__PORT"] = str(_free_port())
    env["PKI_ACME__PORT"] = str(_free_port())
    return env


def _reader(stream, lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def _fetch(url: str) -> tuple[int, str, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def _make_run(run_dir: Path) -> tuple[list[str], bytes]:
    """Run `make run` until the summary is printed and /pki/root.crt is served; return (stdout lines, root DER)."""
    port = _free_port()
    env = _environment(port)
    process = subprocess.Popen(
        [require_tool("make"), "--no-print-directory", "run", f"RUN_DIR={run_dir}"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + DEADLINE
    try:
        while SUMMARY not in "".join(seen):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "make run ended before printing the summary:\n" + "".join(seen)
            seen.append(line)
        url = f"http://127.0.0.1:{port}/pki/root.crt"
        while (answer := _fetch(url)) is None or answer[0] != 200:
            assert process.poll() is None, "the service stopped:\n" + "".join(seen)
            assert time.monotonic() < deadline, f"{url} did not answer within {DEADLINE} s:\n" + "".join(seen)
            time.sleep(0.2)
        status, content_type, body = answer
        assert content_type == "application/pkix-cert"
        x509.load_der_x509_certificate(body)
        portal = f"http://127.0.0.1:{env['PKI_PORTAL__PORT']}/login"
        while (page := _fetch(portal)) is None:
            assert time.monotonic() < deadline, f"{portal} did not answer within {DEADLINE} s:\n" + "".join(seen)
            time.sleep(0.2)
        assert page[0] == 200 and b"<form" in page[2]
        return seen, body
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _steps(lines: list[str]) -> list[str]:
    """The quickstart's "  - step" lines printed before its summary."""
    before = "".join(lines).split(SUMMARY)[0].splitlines()
    return [line[4:] for line in before if line.startswith("  - ")]


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.suffix not in (".sqlite3-wal", ".sqlite3-shm")}


def test_make_run_serves_and_is_idempotent(tmp_path):
    first, root_der = _make_run(tmp_path)
    assert "root CA created" in _steps(first) and "first administrator" in "".join(_steps(first))
    root_pem = (tmp_path / "root-ca" / "root.crt").read_bytes()
    assert root_der == x509.load_pem_x509_certificate(root_pem).public_bytes(Encoding.DER)
    keys = {**_files(tmp_path / "root-ca"), **_files(tmp_path / "var" / "keys")}

    second, root_again = _make_run(tmp_path)
    assert _steps(second) == ["already set up: nothing to do"]
    assert root_again == root_der
    assert {**_files(tmp_path / "root-ca"), **_files(tmp_path / "var" / "keys")} == keys
