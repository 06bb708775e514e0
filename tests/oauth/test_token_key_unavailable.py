"""The token endpoint without its signing key (issue 12): a 503 `temporarily_unavailable` JSON error
(RFC 6749 §5.2 and errata), not the 404 the PKIError mapping gives a missing passphrase file; and it
recovers on the next request once the file is back, without a restart."""

from __future__ import annotations

import base64
import dataclasses

from sqlalchemy import select

from ca.actor import cli_operator
from ca.ledger.api_client_models import AccessTokenRecord
from ca.ledger.models import AuditEvent
from enrollment.api_clients.registration import create_api_client
from tests.conftest import EIC


def _post_token(client, reg):
    credentials = base64.b64encode(f"{reg.client.client_id}:{reg.client_secret}".encode()).decode()
    return client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": "Basic " + credentials})


def test_missing_passphrase_file_is_a_503_then_recovers(client, runtime, tmp_path):
    reg = create_api_client(runtime, cli_operator("pytest"), company_eic=EIC, name="Billing robot",
                            scope="certificates:read")
    real = runtime.settings
    # A key directory no process has loaded a key from yet, and the passphrase file gone.
    missing = dataclasses.replace(real.ca, key_dir=tmp_path / "keys", passphrase_file=tmp_path / "gone.passphrase")
    runtime.settings = dataclasses.replace(real, ca=missing)

    answer = _post_token(client, reg)
    assert answer.status_code == 503, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["error"] == "temporarily_unavailable" and body["error_description"]
    assert "gone.passphrase" not in answer.get_data(as_text=True)  # no path leaks to the client
    assert answer.headers["Retry-After"] == "60" and answer.headers["Cache-Control"] == "no-store"
    with runtime.sessionmaker() as session:
        assert not list(session.scalars(select(AccessTokenRecord)))  # nothing issued

    # The passphrase file is back: the next request creates the key and answers a token.
    restored = dataclasses.replace(missing, passphrase_file=real.ca.passphrase_file)
    runtime.settings = dataclasses.replace(real, ca=restored)
    again = _post_token(client, reg)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["token_type"].lower() == "bearer"
    assert (tmp_path / "keys" / "oauth-token-signing.key.pem").exists()
    with runtime.sessionmaker() as session:
        assert list(session.scalars(select(AuditEvent).where(AuditEvent.action == "oauth.signing_key_created")))
