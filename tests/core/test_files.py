"""ca.files.write_new_file (issue 10 §4): an output is never overwritten and, whenever its writer is killed,
is either absent under its name or whole — never a truncated certificate or key."""

from __future__ import annotations

import random
import stat
import subprocess
import sys
import time

import pytest

from ca.errors import ConflictError
from ca.files import write_new_file

SIZE = 32 * 1024 * 1024  # about 0.1 s to write and fsync here: the kill lands inside the write
_WRITER = """
import sys
from pathlib import Path
from ca.files import write_new_file
data = bytes(range(256)) * (int(sys.argv[2]) // 256)
print("ready", flush=True)
write_new_file(Path(sys.argv[1]), data)
"""


def test_writes_whole_file_with_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "key.pem"
    write_new_file(target, b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["key.pem"]


def test_refuses_an_existing_file_and_keeps_it(tmp_path):
    target = tmp_path / "cert.pem"
    target.write_bytes(b"original")
    with pytest.raises(ConflictError, match="refusing to overwrite"):
        write_new_file(target, b"new")
    assert target.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["cert.pem"]


def test_a_writer_killed_at_any_instant_leaves_nothing_or_everything(tmp_path):
    expected = bytes(range(256)) * (SIZE // 256)
    outcomes = {"absent": 0, "whole": 0}
    for attempt in range(8):
        target = tmp_path / f"out-{attempt}.bin"
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(SIZE)], stdout=subprocess.PIPE)
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(random.uniform(0, 0.12))
        writer.kill()
        writer.wait(10)
        if target.exists():
            assert target.read_bytes() == expected, f"attempt {attempt}: a partial file under the final name"
            outcomes["whole"] += 1
        else:
            outcomes["absent"] += 1
    assert sum(outcomes.values()) == 8
