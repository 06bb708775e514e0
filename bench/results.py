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
    """`met` None: not judged in this run (the peer is missing, or the size is not the target's). A quick run
    judges nothing: its sizes and durations are too short for a target (the one rule, here, for every
    benchmark), so its verdicts are all `not judged` and the note says what it would have been."""
    if quick() and met is not None:
        note = f"quick run; at this size: {'met' if met else 'not met'}" + (f"; {note}" if note else "")
        met = None
    print("BENCH-RESULT " + json.dumps({"figure": figure, "ours": ours, "unit": unit, "peer": peer,
                                        "peer_value": peer_value, "target": target, "met": met, "note": note}),
          flush=True)
