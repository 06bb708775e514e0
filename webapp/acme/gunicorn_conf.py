"""gunicorn settings of the ACME server (`pkictl serve acme`): HTTPS with the certificate our own issuer
gave it (enrollment.acme_server.tls). gunicorn, not granian: granian cannot read the encrypted PKCS#8 key,
and the stdlib context decrypts it with its passphrase file. gthread workers: an http-01 validation waits
on the client's server without holding up other requests.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

from ca.secrets import read_passphrase
from ca.settings import load_settings

_settings = load_settings(None, os.environ).acme

worker_class = "gthread"
threads = 8
certfile = str(_settings.server_cert_file)
keyfile = str(_settings.server_key_file)
keepalive = 5
timeout = 60
graceful_timeout = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "pkictl-acme"


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile, password=read_passphrase(_settings.server_key_passphrase_file))
    return context
