"""WSGI entry point of the portal and its API for granian (`pkictl serve portal`): settings come from
PKI_CONFIG and PKI_* variables."""

from __future__ import annotations

import os

from flask import Flask

from ca.logs import configure_logging
from ca.settings import load_settings
from webapp.app import create_app


def portal() -> Flask:
    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "portal")
    return create_app(settings)
