"""Entry points for WSGI servers (granian): settings come from PKI_CONFIG and PKI_* variables."""

from __future__ import annotations

import os

from ca.certificate_lint import CertificateLintJob
from ca.logs import configure_logging
from ca.runtime import build_runtime
from ca.settings import load_settings
from enrollment.notices.job import LifecycleJob
from revocation.maintenance import MaintenanceThread
from webapp.latency import settle_for_latency
from webapp.repository.app import RepositoryApp


def repository() -> RepositoryApp:
    settings = load_settings(None, os.environ)
    configure_logging(settings.logging, "repository")
    runtime = build_runtime(settings)
    app = RepositoryApp(runtime)
    settle_for_latency()
    if runtime.settings.repository.maintenance:
        MaintenanceThread(runtime, jobs=[LifecycleJob(), CertificateLintJob()]).start()
    return app
