"""GnuTLS `ocsptool --ask` against the real repository server agrees with openssl (issue 3 acceptance).

ocsptool verifies the response against the issuer it is given (`--load-issuer`): our delegated responder
certificate is issued by it, as RFC 6960 §4.2.2.2 requires.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import pytest

from tests.revocation.helpers import LiveRepository, live_repository, run
from tests.support.tools import require_tool

pytestmark = pytest.mark.interop


@pytest.fixture
def repo(runtime, environ, session_pki, tmp_path):
    require_tool("ocsptool")
    with live_repository(environ, session_pki, tmp_path) as live:
        yield live


class Answer:
    def __init__(self, result) -> None:
        self.output, self.code = result.stdout + result.stderr, result.returncode
        status = re.search(r"Certificate Status: (\w+)", self.output)
        self.status = status.group(1) if status else None
        when = re.search(r"Revocation time: (.+)", self.output)
        self.revoked_at = (datetime.strptime(when.group(1).strip(), "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=UTC)
                           if when else None)
        nonce = re.search(r"Nonce: ([0-9a-f]+)", self.output)
        self.nonce = nonce.group(1) if nonce else None
        self.verified = "Verifying OCSP Response: Success." in self.output

    def __repr__(self) -> str:
        return f"<{self.status} exit {self.code}: {self.output[-600:]!r}>"


def _ask(repo: LiveRepository, leaf, nonce: bool) -> Answer:
    ocsptool = require_tool("ocsptool")
    argv = [ocsptool, f"--ask={repo.ocsp_url}", "--load-issuer", repo.issuer_pem, "--load-cert", leaf]
    return Answer(run(*argv, *(["--nonce"] if nonce else []), timeout=20))


def _openssl_status(repo: LiveRepository, leaf) -> str | None:
    result = run("openssl", "ocsp", "-issuer", repo.issuer_pem, "-cert", leaf, "-url", repo.ocsp_url,
                 "-CAfile", repo.root_pem, "-no_nonce", timeout=20)
    match = re.search(rf"^{re.escape(str(leaf))}: (\w+)$", result.stdout, re.MULTILINE)
    return match.group(1) if match else None


@pytest.mark.parametrize("nonce", [False, True], ids=["no_nonce", "nonce"])
def test_ocsptool_good_then_revoked(repo, nonce):
    serial, leaf = repo.issue_leaf()
    answer = _ask(repo, leaf, nonce)
    assert answer.code == 0 and answer.status == "good" and answer.verified, answer
    assert (answer.nonce is not None) == nonce  # echoed when asked for, absent otherwise
    result = repo.pkictl("cert", "revoke", serial, "--reason", "privilegeWithdrawn")
    assert result.returncode == 0, result.stderr
    returned = time.monotonic()
    while True:
        answer = _ask(repo, leaf, nonce)
        if answer.status == "revoked" or time.monotonic() - returned > 1.0:
            break
    assert answer.status == "revoked", f"ocsptool still sees {answer.status} 1 s after the revocation: {answer!r}"
    assert answer.verified and answer.revoked_at is not None
    shown = repo.pkictl("cert", "show", serial, "--format", "json")
    assert answer.revoked_at == datetime.fromisoformat(json.loads(shown.stdout)["revoked_at"])


def test_ocsptool_and_openssl_agree(repo):
    require_tool("openssl")
    good_serial, good = repo.issue_leaf("good")
    revoked_serial, revoked = repo.issue_leaf("revoked")
    assert repo.pkictl("cert", "revoke", revoked_serial, "--reason", "keyCompromise").returncode == 0
    time.sleep(0.5)  # the responder polls the ledger for revocations several times a second
    for leaf, expected in ((good, "good"), (revoked, "revoked")):
        gnutls = _ask(repo, leaf, nonce=True)
        assert gnutls.verified and gnutls.status == expected, gnutls
        assert _openssl_status(repo, leaf) == expected
