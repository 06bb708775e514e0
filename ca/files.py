"""Writing files the CA publishes or keeps, one rule each.

- `write_new_file`: create exclusively; no command ever overwrites an existing output (a key, a certificate).
  The bytes go to a temp file in the same directory, are fsynced, and only then get the final name with
  `link(2)` (which, unlike rename, fails when the name exists): a process killed at any instant (`kill -9`,
  issue 10 §4) leaves either no file under that name or the whole of it — never a truncated certificate or
  key that looks like an output. A killed writer may leave its hidden `.NAME.*.tmp` file behind.
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


def _write_temp(path: Path, chunks: Iterable[bytes | bytearray], mode: int) -> str:
    """A fsynced temp file beside `path` holding the concatenation of `chunks` with `mode`; its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


def _fsync_directory(directory: Path) -> None:
    """The new name itself is durable only once its directory is (a crash after rename/link could lose it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    if path.exists():
        raise ConflictError(f"refusing to overwrite existing file {path}")
    temp = _write_temp(path, (data,), mode)
    try:
        os.link(temp, path)
    except FileExistsError:
        raise ConflictError(f"refusing to overwrite existing file {path}") from None
    finally:
        Path(temp).unlink(missing_ok=True)
    _fsync_directory(path.parent)


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    write_chunks_atomically(path, (data,), mode)


def write_chunks_atomically(path: Path, chunks: Iterable[bytes | bytearray], mode: int = 0o644) -> None:
    """`write_atomically` of the concatenation of `chunks`, without making it (a streamed CRL)."""
    temp = _write_temp(path, chunks, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
