"""WSGI entry point of the portal and its API for granian (`pkictl serve portal`): settings come from
PKI_CONFIG and PKI_* variables."""

from __future__ import annotations

import os

from flask import Flask

from ca.settings import load_settings
from webapp.app import create_app


def portal() -> Flask:
    return create_app(load_settings(None, os.environ))
