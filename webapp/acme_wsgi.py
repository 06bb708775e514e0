"""WSGI entry point of the ACME server for granian (`pkictl serve acme`): settings from PKI_CONFIG and PKI_*."""

from __future__ import annotations

import os

from flask import Flask

from ca.logs import configure_logging
from ca.runtime import build_runtime
from ca.settings import load_settings
from revocation.ocsp import attach_presigner
from webapp.acme import create_acme_app


def acme() -> Flask:
    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "acme")
    return create_acme_app(attach_presigner(build_runtime(settings)))
