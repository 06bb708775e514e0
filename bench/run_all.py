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
QUICK_BUDGET_SECONDS = 180  # issue 14 §6: `make bench QUICK=1` finishes in under 3 minutes
# Not run by a quick run: what they measure is measured again, through the targeted path, by another script.
QUICK_SKIPS = {
    "bench_crl_encode": "the encoder alone; bench_crl_ledger measures the CRL target through it, from the ledger",
}
# Every target of issue 14 (and issue 15's list p95), with the words that find its rows: a target no script
# reported is printed `not measured`, so the table never hides one.
TARGETS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("in-process issuance, durable ledger", ("in-process issuance",), "≥ 5,000/s, ≥ 0.15x raw"),
    ("HTTP issuance vs cfssl serve with certdb", ("http issuance", "certdb"), "≥ 2x cfssl certdb"),
    ("HTTP issuance vs cfssl serve, no database", ("http issuance", "no database"), "≥ 0.5x cfssl no db"),
    ("OCSP vs cfssl ocspserve", ("ocsp req/s", "cfssl"), "≥ 3x cfssl, p99 ≤ 5 ms"),
    ("CRL of 1,000,000 from SQLite, time", ("crl of", "sqlite", "wall"), "≤ 2 s"),
    ("CRL of 1,000,000 from SQLite, memory", ("crl of", "sqlite", "rss"), "≤ 200 MB"),
    ("CRL of 1,000,000 from PostgreSQL, time", ("crl of", "postgresql", "wall"), "≤ 2 s"),
    ("CRL of 1,000,000 from PostgreSQL, memory", ("crl of", "postgresql", "rss"), "≤ 200 MB"),
    ("bulk revocation of 100,000 unused", ("bulk revocation of",), "≤ 30 s for 100,000"),
    ("bulk revocation: OCSP revoked, CRL once", ("bulk revocation", "ocsp"), "≤ 60 s, CRL once"),
    ("gate: new TLS handshakes vs nginx static", ("handshake",), "≥ 0.9x nginx by server CPU"),
    ("gate: keep-alive requests vs nginx static", ("keep-alive",), "≥ 0.5x nginx"),
    ("lists and searches, p95 (issue 15)", ("lists", "p95"), "≤ 100 ms at 100k/1M"),
)


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


def missing_targets(results: list[dict[str, object]]) -> list[dict[str, object]]:
    """A `not measured` row for each target no reported figure matches (words of figure and peer)."""
    texts = [f"{row['figure']} {row['peer']}".lower() for row in results]
    return [{"figure": name, "ours": None, "unit": "", "peer": "-", "peer_value": None, "target": target,
             "met": None, "note": "not measured in this run"}
            for name, words, target in TARGETS if not any(all(w in text for w in words) for text in texts)]


def print_times(times: list[tuple[str, float, int]], seconds: float, quick_run: bool) -> None:
    load = os.getloadavg()
    print(f"\nscripts (load average {load[0]:.1f} {load[1]:.1f}): " +
          ", ".join(f"{name} {took:.0f} s" + ("" if code == 0 else f" (exit {code})") for name, took, code in times))
    if quick_run:
        verdict = "met" if seconds < QUICK_BUDGET_SECONDS else "not met"
        print(f"make bench QUICK=1: {seconds:.0f} s, target < {QUICK_BUDGET_SECONDS} s: {verdict}")


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    if "--quick" in argv:
        argv = [a for a in argv if a != "--quick"]
        env["QUICK"] = os.environ["QUICK"] = "1"
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(name in s.stem for name in argv)]
    elif env.get("QUICK", "") not in ("", "0"):
        for script in [s for s in scripts if s.stem in QUICK_SKIPS]:
            print(f"== {script.name}: skipped by a quick run ({QUICK_SKIPS[script.stem]})")
            scripts.remove(script)
    if not scripts:
        print(f"no benchmark matches {' '.join(argv)}", file=sys.stderr)
        return 2
    failed = []
    times: list[tuple[str, float, int]] = []
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
        times.append((script.stem.removeprefix("bench_"), time.monotonic() - start, code))
        if code != 0:
            failed.append(script.name)
    seconds = time.monotonic() - started
    print_table(results + ([] if argv else missing_targets(results)), seconds)
    print_times(times, seconds, env.get("QUICK", "") not in ("", "0"))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
