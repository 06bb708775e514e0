"""`make bench`: run every bench/bench_*.py in turn, each in its own process, fail if any of them fails, and
end with one table of every figure beside its peer measured in the same run (bench/results.py).

    .venv/bin/python bench/run_all.py [--quick] [NAME ...]   (NAME filters scripts, e.g. `issuance`)
    QUICK=1 .venv/bin/python bench/run_all.py          (`make bench QUICK=1`, the same as --quick: short runs,
                                                        small sizes; bench/results.quick() is the one rule)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _number(value: object, unit: str) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.2f} {unit}"


def print_table(results: list[dict[str, object]], seconds: float) -> None:
    load = os.getloadavg()
    quick = " (QUICK=1)" if os.environ.get("QUICK", "") not in ("", "0") else ""  # main() sets it for --quick
    print(f"\nmake bench{quick}: every figure beside its peer in this run; {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} {load[1]:.1f}, {seconds:.0f} s")
    header = f"{'figure':<44} {'ours':>16} {'peer':<30} {'peer value':>16} {'ratio':>7}  {'target':<22} verdict"
    print(header)
    print("-" * len(header))
    for row in results:
        ours, peer_value, unit = row["ours"], row["peer_value"], str(row["unit"])
        ratio = (f"{ours / peer_value:.2f}x" if isinstance(ours, int | float) and isinstance(peer_value, int | float)
                 and peer_value else "-")
        verdict = {True: "met", False: "not met", None: "not judged"}[row["met"]]  # type: ignore[index]
        note = f"  ({row['note']})" if row.get("note") else ""
        print(f"{str(row['figure']):<44} {_number(ours, unit):>16} {str(row['peer']):<30} "
              f"{_number(peer_value, unit):>16} {ratio:>7}  {str(row['target']):<22} {verdict}{note}")


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    if "--quick" in argv:
        argv = [a for a in argv if a != "--quick"]
        env["QUICK"] = os.environ["QUICK"] = "1"
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    if not scripts:
        print(f"no benchmark matches {' '.join(argv)}", file=sys.stderr)
        return 2
    failed = []
    results: list[dict[str, object]] = []
    started = time.monotonic()
    for script in scripts:
        print(f"== {script.relative_to(BENCH_DIR.parent)}", flush=True)
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, str(script)], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE,
                                   text=True, env=env)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("BENCH-RESULT "):
                results.append(json.loads(line.removeprefix("BENCH-RESULT ")))
            else:
                print(line, end="", flush=True)
        code = process.wait()
        print(f"== {script.name}: exit {code} after {time.monotonic() - start:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    print_table(results, time.monotonic() - started)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
