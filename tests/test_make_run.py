"""Acceptance: `make run` ends with the service answering on localhost and the quickstart summary printed;
a second `make run` in the same directory changes nothing (the quickstart is idempotent). Issue 15 item 4:
the output says how to log in with a one-time activation link that works (a password is set through it and
the operator logs in), `/pki/` is an HTML index, and `openssl x509` reads the served root.pem."""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.server import free_port
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[1]
SUMMARY = "Portail PKI quickstart summary"
NEXT_STEPS_END = "e-mails the portal sends are written to"
DEADLINE = 60.0
PASSWORD = "a first run that explains itself, tried from a fresh clone"


def _environment(port: int) -> dict[str, str]:
    """The caller's environment without any PKI_* setting that could point the demo elsewhere; free ports
    for the three services `make run` starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKI_")}
    env["PKI_REPOSITORY__PORT"] = str(port)
    env["PKI_PORTAL__PORT"] = str(free_port())
    env["PKI_PORTAL__BASE_URL"] = f"http://127.0.0.1:{env['PKI_PORTAL__PORT']}"  # the links it prints
    env["PKI_FRONTOFFICE__PORT"] = str(free_port())
    env["PKI_ACME__PORT"] = str(free_port())
    env["PKI_OAUTH__MTLS_PORT"] = str(free_port())
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


def _make_run(run_dir: Path, while_up=None) -> tuple[list[str], bytes]:
    """Run `make run` until the summary is printed and /pki/root.crt is served; return (stdout lines, root DER).
    `while_up(lines, env)` runs while the services are up."""
    port = free_port()
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
        while NEXT_STEPS_END not in "".join(seen):
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
        if while_up is not None:
            while_up(seen, env)
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


def _form_post(port: int, path: str, fields: dict[str, str], cookie: str) -> http.client.HTTPResponse:
    """POST a form carrying the session cookie by hand (http.cookiejar keeps Secure cookies off plain HTTP)."""
    from urllib.parse import urlencode

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, body=urlencode(fields),
                       headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _get(port: int, path: str, cookie: str = "") -> tuple[http.client.HTTPResponse, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response, body


def _cookie(response: http.client.HTTPResponse) -> str:
    return "; ".join(value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie")


def _activate_and_log_in(lines: list[str], env: dict[str, str]) -> None:
    """Follow the printed operator link as a new user would: choose a password, then log in with it."""
    output = "".join(lines)
    port = int(env["PKI_PORTAL__PORT"])
    assert "How to log in" in output and "What to try next" in output
    links = re.findall(rf"http://127\.0\.0\.1:{port}(/activate/[A-Za-z0-9_-]+)", output)
    assert len(links) == 2, output  # the demo operator's and the demo administrator's
    operator_link = links[0]
    assert "operator@portail-demo.example" in output.split(operator_link)[0].rsplit("How to log in", 1)[1]
    page, html = _get(port, operator_link)
    assert page.status == 200 and "operator@portail-demo.example" in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert csrf
    done = _form_post(port, operator_link, {"csrf_token": csrf.group(1), "password": PASSWORD,
                                            "password_confirmation": PASSWORD}, _cookie(page))
    assert done.status == 302 and done.getheader("Location", "").endswith("/login")
    assert _get(port, operator_link)[0].status == 404  # one-time
    login_page, login_html = _get(port, "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_html)
    assert csrf
    logged_in = _form_post(port, "/login", {"csrf_token": csrf.group(1), "email": "operator@portail-demo.example",
                                            "password": PASSWORD, "next": ""}, _cookie(login_page))
    assert logged_in.status == 302, logged_in.status
    session_cookie = _cookie(logged_in)
    companies, html = _get(port, "/operator/companies", session_cookie)
    assert companies.status == 200 and "10XDEMO-PRODUCE2" in html
    _repository_index(env)


def _repository_index(env: dict[str, str]) -> None:
    """`curl /pki/` is 200 HTML; `openssl x509` reads the root.pem it links to."""
    curl, openssl = require_tool("curl"), require_tool("openssl")
    url = f"http://127.0.0.1:{env['PKI_REPOSITORY__PORT']}/pki/"
    out = subprocess.run([curl, "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}", url],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.endswith("\n200 text/html; charset=utf-8"), out
    assert "root.pem" in out.stdout and "/pki/ocsp" in out.stdout
    pem = subprocess.run([curl, "-sS", "-f", url + "root.pem"], capture_output=True, timeout=20)
    assert pem.returncode == 0
    parsed = subprocess.run([openssl, "x509", "-noout", "-subject"], input=pem.stdout, capture_output=True,
                            timeout=20)
    assert parsed.returncode == 0 and b"Portail Demo Root CA" in parsed.stdout, parsed


def test_make_run_serves_and_is_idempotent(tmp_path):
    first, root_der = _make_run(tmp_path, _activate_and_log_in)
    assert "root CA created" in _steps(first) and "first administrator" in "".join(_steps(first))
    root_pem = (tmp_path / "root-ca" / "root.crt").read_bytes()
    assert root_der == x509.load_pem_x509_certificate(root_pem).public_bytes(Encoding.DER)
    keys = {**_files(tmp_path / "root-ca"), **_files(tmp_path / "var" / "keys")}

    second, root_again = _make_run(tmp_path)
    assert _steps(second) == ["already set up: nothing to do"]
    # The operator has a password now: no new link for them; the administrator still gets one.
    assert "operator@portail-demo.example: log in with the password you chose" in " ".join("".join(second).split())
    assert len(re.findall(r"/activate/[A-Za-z0-9_-]+", "".join(second))) == 1
    assert root_again == root_der
    assert {**_files(tmp_path / "root-ca"), **_files(tmp_path / "var" / "keys")} == keys
