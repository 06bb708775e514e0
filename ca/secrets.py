"""Secrets the CA is given, read from files (or file descriptor paths), never from the command line or the
repository (DESIGN §7): key passphrases and PKCS#11 PINs.
"""

from __future__ import annotations

from pathlib import Path

from ca.errors import BadRequestError, NotFoundError

MIN_PASSPHRASE_LENGTH = 12
DEFAULT_PKCS11_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def read_passphrase(path: Path) -> bytes:
    """Passphrases come from a file (or a file descriptor path), never from the command line."""
    try:
        value = path.read_bytes().rstrip(b"\r\n")
    except FileNotFoundError:
        raise NotFoundError(f"passphrase file not found: {path}") from None
    except IsADirectoryError:
        raise BadRequestError(f"passphrase file is a directory: {path}") from None
    check_passphrase(value)
    return value


def check_passphrase(value: bytes) -> None:
    if len(value) < MIN_PASSPHRASE_LENGTH:
        raise BadRequestError(f"passphrase too short: at least {MIN_PASSPHRASE_LENGTH} characters are required")


def read_pin(path: Path) -> str:
    try:
        pin = path.read_text().strip()
    except FileNotFoundError:
        raise NotFoundError(f"PIN file not found: {path}") from None
    if not pin:
        raise BadRequestError(f"PIN file {path} is empty")
    return pin
