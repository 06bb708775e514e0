"""`make bench`: run every bench/bench_*.py in turn, each in its own process, and fail if any of them fails.

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]      (NAME filters scripts, e.g. `issuance`)

`--quick` (or BENCH_QUICK=1) asks the scripts that know it for a small run that only checks they work
(bench_lists.py: 2,000 companies and 20,000 certificates instead of 100,000 and 1,000,000).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    if "--quick" in argv:
        argv = [a for a in argv if a != "--quick"]
        env["BENCH_QUICK"] = "1"
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
        code = subprocess.call([sys.executable, str(script)], cwd=BENCH_DIR.parent, env=env)
        print(f"== {script.name}: exit {code} after {time.monotonic() - start:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
