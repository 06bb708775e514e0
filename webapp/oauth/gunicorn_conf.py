"""gunicorn settings of the mutual-TLS alias (`gunicorn -c python:webapp.oauth.gunicorn_conf`), run by
`pkictl serve api-mtls` once the server certificate and client CA bundle exist
(enrollment.api_clients.alias_tls). Settings come from PKI_CONFIG and PKI_* variables."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

from ca.settings import load_settings

_settings = load_settings(None, os.environ).oauth

bind = [f"{_settings.mtls_host}:{_settings.mtls_port}"]
worker_class = "gthread"
threads = 4
# Both must be set for gunicorn to speak TLS; the context itself comes from `ssl_context` below.
certfile = str(_settings.mtls_server_cert_file)
keyfile = str(_settings.mtls_server_key_file)
keepalive = 5
timeout = 30
graceful_timeout = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "pkictl-api-mtls"


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    from webapp.oauth.alias_server import build_alias_context

    return build_alias_context(_settings)
