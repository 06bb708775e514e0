"""Logging of the services: plain text, or one JSON object per line (`logging.format = "json"`), for a log
collector. Each JSON line has `time` (UTC, ISO 8601), `level`, `service`, `event` (the message), `logger`,
`pid` (the worker process), and `request_id` when the line was written while serving a request that has one
(the portal and the front office give every request one; `X-Request-ID` from a trusted proxy is kept when it
looks sane).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from ca.settings import LoggingSettings

REQUEST_ID: ContextVar[str | None] = ContextVar("pki_request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is short and plain, else a fresh random one."""
    if header and _SANE_ID.match(header):
        return header
    return secrets.token_hex(8)


class JSONFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "event": record.getMessage(),
            "logger": record.name,
            "pid": record.process,  # which worker process wrote it (granian/gunicorn run several)
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings: LoggingSettings, service: str) -> None:
    """Once per process, by the service's entry point: one handler on stderr for the root logger."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JSONFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    handler.set_name("pki-service")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "pki-service"]:  # ours only, once per process
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
