"""The front office: the mutual-TLS gate (gate.py), its refusal pages (pages.py) and a demo application (app.py).

`create_frontoffice(runtime, mode=...)` returns the WSGI callable: the gate in front of the demo front office.
"""

from __future__ import annotations

from ca.runtime import Runtime
from webapp.frontoffice.app import DemoFrontOffice
from webapp.frontoffice.gate import Gate


def create_frontoffice(runtime: Runtime, *, mode: str | None = None) -> Gate:
    return Gate(DemoFrontOffice(), runtime, mode=mode or runtime.settings.frontoffice.mode)


__all__ = ["Gate", "DemoFrontOffice", "create_frontoffice"]
