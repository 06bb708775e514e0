"""gunicorn settings of the front office in direct mode (`gunicorn -c python:webapp.frontoffice.gunicorn_conf`).

`pkictl serve frontoffice` runs gunicorn with this module after it made sure the server certificate and
the client CA bundle exist (enrollment.gate_tls). Settings come from PKI_CONFIG and PKI_* variables.
gthread workers: the TLS handshake and the request run in a worker thread, and keep-alive works.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

from ca.settings import load_settings

_settings = load_settings(None, os.environ).frontoffice

bind = [f"{_settings.host}:{_settings.port}"]
worker_class = "gthread"
threads = _settings.threads
# Both must be set for gunicorn to speak TLS; the context itself comes from `ssl_context` below, which
# decrypts the key with its passphrase file (gunicorn's own factory cannot).
certfile = str(_settings.server_cert_file)
keyfile = str(_settings.server_key_file)
keepalive = 5
timeout = 30
graceful_timeout = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "pkictl-frontoffice"


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    from webapp.frontoffice_server import server_context

    return server_context(_settings).get()
