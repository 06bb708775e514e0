"""Repository WSGI application: GET of certificates and CRLs by dictionary lookup.

The table is rebuilt at most every `refresh_seconds` so new CRLs and issuers appear without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ca.runtime import Runtime
from revocation.repository import Document, repository_documents

StartResponse = Callable[..., Any]


class RepositoryApp:
    def __init__(self, runtime: Runtime, refresh_seconds: float = 2.0) -> None:
        self.runtime = runtime
        self.refresh_seconds = refresh_seconds
        self._documents: dict[str, Document] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def documents(self) -> dict[str, Document]:
        if time.monotonic() - self._loaded_at > self.refresh_seconds:
            with self._lock:
                if time.monotonic() - self._loaded_at > self.refresh_seconds:
                    self._documents = repository_documents(self.runtime)
                    self._loaded_at = time.monotonic()
        return self._documents

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "method not allowed\n")
        document = self.documents().get(path)
        if document is None:
            return _text(start_response, "404 Not Found", f"not found: {path}\n")
        start_response("200 OK", [("Content-Type", document.media_type),
                                  ("Content-Length", str(len(document.body))),
                                  ("Cache-Control", "public, max-age=300")])
        return [b"" if method == "HEAD" else document.body]


def _text(start_response: StartResponse, status: str, message: str) -> list[bytes]:
    body = message.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
