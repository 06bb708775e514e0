"""The mutual-TLS alias (RFC 8705 §5): the portal application served by gunicorn speaking TLS itself, so
that the application sees the client certificate of the connection (webapp.oauth.mtls), as the front
office does in direct mode (webapp/frontoffice_server.py explains why not granian).

A client certificate is requested, not required (CERT_OPTIONAL): the token endpoint also serves clients
authenticating with a secret whose tokens are then bound to the certificate they present (RFC 8705 §3),
and `/api/v1/` answers there too. Only our issuers are trust anchors (X509_V_FLAG_PARTIAL_CHAIN).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading

from flask import Flask

from ca.logs import configure_logging
from ca.runtime import Runtime
from ca.settings import OAuthSettings, load_settings
from enrollment.access.tls import key_passphrase
from enrollment.api_clients.alias_tls import write_alias_client_ca

log = logging.getLogger("portail.web")


def build_alias_context(settings: OAuthSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS")
    context.load_cert_chain(str(settings.mtls_server_cert_file), str(settings.mtls_server_key_file),
                            password=key_passphrase(settings.mtls_server_key_passphrase_file))
    context.load_verify_locations(cafile=str(settings.mtls_client_ca_file))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


def alias_app() -> Flask:
    """gunicorn application (`webapp.oauth.alias_server:alias_app()`)."""
    from webapp.app import create_app

    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "api-mtls")
    app = create_app(settings)
    threading.Thread(target=_refresh_client_ca_forever, args=(app.extensions["portail.runtime"],),
                     name="client-ca-refresh", daemon=True).start()
    return app


def _refresh_client_ca_forever(runtime: Runtime) -> None:
    """Like the front office (webapp.frontoffice_server): every `oauth.mtls_client_ca_refresh_seconds` the
    bundle is rewritten from the ledger, so a newly installed issuer's clients are accepted without a
    restart (the context is built per connection from the file)."""
    interval, stop = runtime.settings.oauth.mtls_client_ca_refresh_seconds, threading.Event()
    while not stop.wait(interval):
        try:
            if write_alias_client_ca(runtime):
                log.info("mTLS alias: client CA bundle refreshed from the ledger")
        except Exception:  # noqa: BLE001  (a transient ledger error must not stop the refresher)
            log.exception("could not refresh the mTLS alias's client CA bundle")
