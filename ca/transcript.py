"""Ceremony transcripts of the offline root: append-only, hash-chained JSON lines in the root directory.

Each entry records who ran which root command, when, the SHA-256 of every input and output file and the
fingerprint of what was signed, plus the hash of the previous entry, so that editing, removing or
reordering any line is detected by `pkictl root verify-transcript` (issue 6 §4).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

TRANSCRIPT = "transcript.jsonl"
GENESIS = "0" * 64


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _lines(root_dir: Path) -> list[str]:
    path = root_dir / TRANSCRIPT
    return path.read_text().splitlines() if path.exists() else []


def append_entry(
    root_dir: Path, *, at: datetime, operator: str, command: str, inputs: dict[str, Path] | None = None,
    outputs: dict[str, Path] | None = None, signed: bytes | None = None, details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One hash-chained line; `signed` is the DER the command signed (its SHA-256 is the fingerprint)."""
    lines = _lines(root_dir)
    previous = json.loads(lines[-1])["hash"] if lines else GENESIS
    entry: dict[str, Any] = {
        "seq": len(lines) + 1,
        "at": at.isoformat(),
        "operator": operator,
        "command": command,
        "inputs": {name: file_sha256(p) for name, p in (inputs or {}).items() if p.exists()},
        "outputs": {name: file_sha256(p) for name, p in (outputs or {}).items() if p.exists()},
        "fingerprint": hashlib.sha256(signed).hexdigest() if signed is not None else None,
        "details": details or {},
        "prev_hash": previous,
    }
    entry["hash"] = _entry_hash(entry)
    with (root_dir / TRANSCRIPT).open("a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return entry


@dataclass(frozen=True)
class TranscriptProblem:
    line: int
    problem: str


def verify_transcript(root_dir: Path) -> tuple[int, list[TranscriptProblem]]:
    problems: list[TranscriptProblem] = []
    previous = GENESIS
    lines = _lines(root_dir)
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            problems.append(TranscriptProblem(number, f"line {number} is not valid JSON"))
            previous = ""
            continue
        if entry.get("seq") != number:
            problems.append(TranscriptProblem(number, f"line {number} has sequence number {entry.get('seq')}"))
        if entry.get("prev_hash") != previous:
            problems.append(TranscriptProblem(number, f"line {number} does not link to line {number - 1}"))
        if _entry_hash(entry) != entry.get("hash"):
            problems.append(TranscriptProblem(number, f"line {number} was modified (its hash does not match)"))
        previous = entry.get("hash", "")
    return len(lines), problems
