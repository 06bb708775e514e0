"""Benchmark: authorized front-office requests per second, ours against nginx, in the same run (issues 5, 14).

    .venv/bin/python bench/bench_frontoffice.py [--seconds S] [--clients N] [--requests R]

Three servers on 127.0.0.1, each with two worker processes, the same server certificate (P-256, from our
issuer) and the same client CA bundle:
- `nginx static`: nginx with `ssl_verify_client on` answering a fixed 200 (`return 200`): the reference;
- `direct`: `pkictl serve frontoffice` (cheroot + pyOpenSSL + the gate + the demo page `/`);
- `proxy`: nginx (shipped config/deploy/nginx-frontoffice.conf) in front of `pkictl serve frontoffice`
  in proxy mode (granian + the gate).
Two client patterns, both with a valid client certificate on an authorized page:
- new TLS handshake per request: `openssl s_time -new` (full handshake, client certificate, one GET, close);
- keep-alive: curl fetching the page repeatedly over one connection (`--config` with many URLs).
N clients run in parallel (default 8) on the same 2-core machine as the servers, so the figures are
comparable between servers of one run, not absolute; the servers are measured in turn for `--rounds` rounds and
each one's best round counts (the clients' own handshake work and any other load on
the machine count too), and server CPU per request (every process of the server) is the fairer measure.
Targets (issue 14 item 2), printed as BENCH-RESULT rows for `make bench`'s table (bench/results.py) for the
served arrangement (proxy: nginx in front of granian): new TLS handshakes >= 0.9x nginx static by server
CPU; keep-alive requests through the gate >= 0.5x nginx static (requests per second of the same clients).
Direct mode (pure-Python TLS, kept for its own refusal pages without nginx) is printed, not judged.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ca.runtime import build_runtime  # noqa: E402
from ca.settings import load_settings  # noqa: E402
from tests.frontoffice.servers import (  # noqa: E402
    escaped_pem,
    frontoffice_environ,
    nginx_config,
    start_frontoffice,
    start_nginx,
)
from tests.frontoffice.world import build_world  # noqa: E402
from tests.support.pki import make_session_pki  # noqa: E402
from tests.support.server import Server, free_port, stop_server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import emit, quick  # noqa: E402

STATIC, PAGE = "nginx static (reference)", "nginx static, the gate's page"
DIRECT, PROXY = "direct (cheroot + pyOpenSSL + gate)", "proxy (nginx + granian + gate)"
_S_TIME = re.compile(r"(\d+) connections in ([\d.]+) real seconds")


def static_nginx_conf(directory: Path, port: int, fo: Path, page: bytes | None = None) -> Path:
    """nginx answering `ok` (`return 200`), or, with `page`, those bytes as a static file: the gate's page
    costs nginx the TLS encryption of its ~6 kB, which the 3-byte answer does not."""
    directory.mkdir(parents=True, exist_ok=True)
    location = '    location / { return 200 "ok\\n"; }\n'
    if page is not None:
        (directory / "page.html").write_bytes(page)
        location = (f"    location / {{ root {directory}; try_files /page.html =404; default_type text/html; "
                    "etag off; }\n")
    conf = directory / "nginx.conf"
    conf.write_text(
        f"user root;\nworker_processes 2;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\nhttp {\n  access_log off;\n"
        f"  server {{\n    listen 127.0.0.1:{port} ssl;\n"
        f"    ssl_certificate {fo / 'server-chain.pem'};\n    ssl_certificate_key {fo / 'server.key.pem'};\n"
        f"    ssl_password_file {fo / 'server.passphrase'};\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
        f"    ssl_verify_client on;\n    ssl_client_certificate {fo / 'nginx-client-ca.pem'};\n"
        f"{location}  }}\n}}\n")
    return conf


def session_cpu(sessions: list[int]) -> float:
    """CPU seconds (user + system) used so far by every live process of these sessions (servers are started
    with start_new_session, so a session is a server with all its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) in sessions:  # field 6 of stat: session id
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def new_handshakes(port: int, cert: Path, key: Path, ca: Path, seconds: int, clients: int) -> tuple[int, float]:
    """(connections, wall seconds) over all clients (s_time rounds its own time to whole seconds)."""
    command = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds),
               "-cert", str(cert), "-key", str(key), "-CAfile", str(ca), "-www", "/"]
    start = time.monotonic()
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(clients)]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds * 3 + 30)
        match = _S_TIME.search(out)
        if not match:
            raise RuntimeError(f"openssl s_time said:\n{out[-800:]}")
        total += int(match.group(1))
    return total, time.monotonic() - start


def keep_alive(port: int, cert: Path, key: Path, ca: Path, requests: int, clients: int,
               work: Path) -> tuple[int, float]:
    config = work / f"curl-{port}.conf"
    config.write_text("".join(f'url = "https://127.0.0.1:{port}/"\noutput = "/dev/null"\n' for _ in range(requests)))
    command = ["curl", "-sS", "--fail", "--cert", str(cert), "--key", str(key), "--cacert", str(ca),
               "--config", str(config)]
    start = time.monotonic()
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(clients)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"curl failed: {err.decode(errors='replace')[-500:]}")
    return requests * clients, time.monotonic() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3 if quick() else 5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500 if quick() else 3000, help="keep-alive requests per client")
    parser.add_argument("--rounds", type=int, default=1 if quick() else 3, help="each server's best round counts")
    parser.add_argument("--no-direct", action="store_true", help="leave direct mode out (it is not judged)")
    args = parser.parse_args(argv)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-frontoffice-") as tmp:
        base = Path(tmp)
        (base / "pki").mkdir()
        pki = make_session_pki(base / "pki")
        environ = frontoffice_environ(base / "run", pki, portal_url="https://portal.example.test")
        runtime = build_runtime(load_settings(None, environ))
        try:
            world = build_world(runtime, pki, base / "certs")
            bob = world.issue("bob", "bob@example.com")
            fo = base / "run" / "fo"
            proxy_env = {**environ, "PKI_FRONTOFFICE__CLIENT_CA_FILE": str(fo / "nginx-client-ca.pem")}
            backend = start_frontoffice(proxy_env, base / "logs", mode="proxy", workers=2)
            servers.append(backend)
            proxy_port, static_port, page_port = free_port(), free_port(), free_port()
            conf = nginx_config(base / "nginx-proxy", port=proxy_port, backend_port=backend.port,
                                chain=fo / "server-chain.pem", key=fo / "server.key.pem",
                                passphrase=fo / "server.passphrase", client_ca=fo / "nginx-client-ca.pem")
            conf.write_text(conf.read_text().replace("worker_processes 1;", "worker_processes 2;"))
            proxy_server = start_nginx(base / "nginx-proxy", conf, proxy_port)
            servers.append(proxy_server)
            static_server = start_nginx(base / "nginx-static", static_nginx_conf(base / "nginx-static", static_port,
                                                                                 fo), static_port)
            servers.append(static_server)
            page = gate_page(backend.port, escaped_pem(bob))
            page_server = start_nginx(base / "nginx-page", static_nginx_conf(base / "nginx-page", page_port, fo,
                                                                             page), page_port)
            servers.append(page_server)
            targets = {STATIC: (static_port, [static_server]), PAGE: (page_port, [page_server]),
                       PROXY: (proxy_port, [proxy_server, backend])}
            if not args.no_direct:
                direct = start_frontoffice(environ, base / "logs", workers=2)
                servers.append(direct)
                targets[DIRECT] = (direct.port, [direct])
            rounds: dict[str, list[list[float]]] = {name: [] for name in targets}
            for _ in range(args.rounds):  # servers in turn, round after round: a burst of load hits all of them
                for name, (port, group) in targets.items():
                    sessions = [server.process.pid for server in group]
                    cpu = session_cpu(sessions)
                    count, wall = new_handshakes(port, bob.cert_file, bob.key_file, pki.root_pem, args.seconds,
                                                 args.clients)
                    cpu_new = (session_cpu(sessions) - cpu) / count
                    cpu = session_cpu(sessions)
                    kept, kept_wall = keep_alive(port, bob.cert_file, bob.key_file, pki.root_pem, args.requests,
                                                 args.clients, base)
                    cpu_kept = (session_cpu(sessions) - cpu) / kept
                    rounds[name].append([count / wall, cpu_new * 1000, kept / kept_wall, cpu_kept * 1000])
            # each server's best round (fastest rate, least CPU): the one least disturbed by the rest of the machine
            results = {name: [max(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs),
                              min(r[3] for r in runs)] for name, runs in rounds.items()}
        finally:
            for server in reversed(servers):
                stop_server(server)
            runtime.close()
    reference = results[STATIC]
    print(f"front office, {args.clients} clients, authorized GET / with a client certificate, best of {args.rounds} "
          f"rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  {'server':32} {'new handshake':>14} {'server CPU':>11} {'capacity':>9} {'x nginx':>8} "
          f"{'keep-alive':>11} {'server CPU':>11} {'x nginx':>8}")
    print(f"  {'':32} {'req/s':>14} {'ms/req':>11} {'req/s':>9} {'':>8} {'req/s':>11} {'ms/req':>11}")
    cores = os.cpu_count() or 1
    for name, (rate, cpu_new, kept, cpu_kept) in results.items():
        # capacity: what the server's own CPU cost allows on all cores, independent of the client's share
        print(f"  {name:32} {rate:14.0f} {cpu_new:11.2f} {cores * 1000 / cpu_new:9.0f} "
              f"{reference[1] / cpu_new:8.2f} {kept:11.0f} {cpu_kept:11.3f} {reference[3] / cpu_kept:8.2f}")
    load = os.getloadavg()[0]
    for peer in (STATIC, PAGE):
        report(results[PROXY], results[peer], "nginx static ok" if peer == STATIC else "nginx static same page",
               load)
    return 0


def gate_page(port: int, header: str) -> bytes:
    """The bytes the gate answers for GET / (asked of the backend directly, as nginx would)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={
        "X-SSL-Client-Cert": header, "X-SSL-Client-Verify": "SUCCESS"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def report(proxy: list[float], reference: list[float], peer: str, load: float) -> None:
    """The two judged figures of issue 14 item 2 for the served arrangement (proxy mode) against `peer`."""
    load_note = f"load average {load:.1f}"
    capacity = 1000 / proxy[1]  # handshakes per CPU-second of the server's processes
    peer_capacity = 1000 / reference[1]
    emit("front office new TLS handshakes (proxy)", capacity, "/CPU-s", peer, peer_capacity,
         ">= 0.9x by server CPU", capacity >= 0.9 * peer_capacity,
         f"{proxy[0]:.0f} vs {reference[0]:.0f} handshakes/s on the clock, {load_note}")
    emit("front office keep-alive requests (proxy)", proxy[2], "req/s", peer, reference[2],
         ">= 0.5x", proxy[2] >= 0.5 * reference[2],
         f"server CPU {proxy[3]:.3f} vs {reference[3]:.3f} ms/request, {load_note}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
