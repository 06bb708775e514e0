"""`make bench`: run every bench/bench_*.py in turn, each in its own process, and fail if any of them fails.

    .venv/bin/python bench/run_all.py [NAME ...]      (NAME filters scripts, e.g. `issuance`)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    if not scripts:
        print(f"no benchmark matches {' '.join(argv)}", file=sys.stderr)
        return 2
    failed = []
    for script in scripts:
        print(f"== {script.relative_to(BENCH_DIR.parent)}", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=BENCH_DIR.parent)
        print(f"== {script.name}: exit {code} after {time.monotonic() - start:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
