"""`pkictl serve all --host/--workers` reach every supervised service; `--port` is refused (five services
cannot share one port). Found ignored in the issue 10 work: `serve all` used to drop them silently."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from click.testing import CliRunner

from cli.main import cli
from cli.serve import all_children
from tests.drills.conftest import SERVICES, ServeAll, Site, group_members


def test_options_reach_every_child():
    children = dict(all_children(["pkictl"], "127.0.0.1", 3))
    assert set(children) == set(SERVICES) == {"repository", "portal", "frontoffice", "acme", "api-mtls"}
    for name, argv in children.items():
        assert argv == ["pkictl", "serve", name, "--host", "127.0.0.1", "--workers", "3"]
    assert dict(all_children(["pkictl"], None, 1))["portal"] == ["pkictl", "serve", "portal", "--workers", "1"]


def test_port_and_zero_workers_are_refused(runner: CliRunner):
    for args, fragment in ((["--port", "9000"], "own port"), (["--workers", "0"], "at least 1")):
        result = runner.invoke(cli, ["serve", "all", *args])
        assert result.exit_code != 0 and result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


def test_serve_all_starts_the_workers_asked_for(site: Site, tmp_path: Path, serve_all: list[ServeAll]):
    """With --workers 2, each granian service runs two worker processes beside its main one (the front office
    in direct mode: a main process and two cheroot workers; ACME and the OAuth2 mTLS alias are gunicorn: an
    arbiter and two workers)."""
    server = ServeAll(site, tmp_path / "serve-all.log", args=("--workers", "2", "--host", "127.0.0.1"))
    serve_all.append(server)
    server.wait_ready()
    # Ready means each service answers; its last workers may still be forking: count until they are all there.
    deadline = time.monotonic() + 30
    while True:
        children = server.children()
        counts = {name: len(group_members({pids[-1]})) for name, pids in children.items()}
        if counts == {name: 3 for name in SERVICES} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counts == {name: 3 for name in SERVICES}, (counts, server.text()[-2000:])
    server.stop(signal.SIGTERM)
    server.assert_no_500()
