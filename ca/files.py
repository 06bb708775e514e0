"""Writing files the CA publishes or keeps, one rule each.

- `write_new_file`: create exclusively; no command ever overwrites an existing output (a key, a certificate).
- `write_atomically`: temp file + fsync + rename + fsync of the directory, so a reader (nginx, a relying
  party fetching a CRL, the next process start) sees the old file or the new one, never half of one, and a
  failed write (disk full) leaves the previous file in place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ca.errors import ConflictError


def write_new_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise ConflictError(f"refusing to overwrite existing file {path}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    write_chunks_atomically(path, (data,), mode)


def write_chunks_atomically(path: Path, chunks: Iterable[bytes | bytearray], mode: int = 0o644) -> None:
    """`write_atomically` of the concatenation of `chunks`, without making it (a streamed CRL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
