"""A benchmark's figures for bench/all.py's table: each ``figure(...)`` call writes one JSON
line to the file named by $TRANSPECTOR_BENCH_RESULTS (when bench/all.py runs the benchmark;
nothing otherwise). The benchmark prints its own lines as before."""

from __future__ import annotations

import json
import os
from typing import Literal

Compare = Literal["<=", ">=", "=="]
RESULTS_ENV = "TRANSPECTOR_BENCH_RESULTS"


def figure(
    bench: str, metric: str, value: float, compare: Compare | None, target: float | None, unit: str
) -> None:
    """Record ``metric``'s measured ``value`` (in ``unit``) against ``compare target``; None:
    reported without a target."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    passed = None
    if compare is not None and target is not None:
        passed = {"<=": value <= target, ">=": value >= target, "==": value == target}[compare]
    row = {"bench": bench, "metric": metric, "value": value, "compare": compare,
           "target": target, "unit": unit, "passed": passed}  # fmt: skip
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
