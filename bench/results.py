"""One line per measured figure, for `make bench`'s summary table (issue 14 §6).

Each benchmark prints `BENCH-RESULT {json}` for every figure it measured beside its peer in the same run;
bench/run_all.py collects them and prints one table: figure, ours, peer, ratio, target, met / not met.
"""

from __future__ import annotations

import json
import os


def quick() -> bool:
    """`make bench QUICK=1`: shorter runs and smaller sizes (the table says which)."""
    return os.environ.get("QUICK", "") not in ("", "0")


def emit(figure: str, ours: float, unit: str, peer: str, peer_value: float | None, target: str,
         met: bool | None, note: str = "") -> None:
    """`met` None: not judged in this run (a quick run, or the peer is missing); the table says so."""
    print("BENCH-RESULT " + json.dumps({"figure": figure, "ours": ours, "unit": unit, "peer": peer,
                                        "peer_value": peer_value, "target": target, "met": met, "note": note}),
          flush=True)
