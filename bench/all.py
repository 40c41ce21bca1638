"""Every benchmark under bench/, one after another, then one table of what each measured:
metric, target, measured value, pass or miss. The table is printed and written as JSON.

    python bench/all.py [--json bench/results.json] [--only sweeps,transport]

Each benchmark runs as its own process (its output streams through) and records its figures
with ``bench.results.figure``. Absolute times on these machines are noisy: the figures are
ratios measured within one run unless their unit says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BENCHES = ["run_overhead", "sweeps", "transport", "canvas", "model_load", "deferred", "data"]
sys.path.insert(0, str(BENCH.parent))

from bench.results import RESULTS_ENV  # noqa: E402


def run(names: list[str]) -> tuple[list[dict[str, object]], dict[str, float]]:
    rows: list[dict[str, object]] = []
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.jsonl"
            print(f"\n==== bench/{name}.py ====", flush=True)
            start = time.perf_counter()
            env = dict(os.environ, **{RESULTS_ENV: str(out)})
            done = subprocess.run([sys.executable, str(BENCH / f"{name}.py")], env=env)
            seconds[name] = time.perf_counter() - start
            if done.returncode != 0:
                rows.append({"bench": name, "metric": f"exit status {done.returncode}",
                             "value": None, "compare": None, "target": None, "unit": "",
                             "passed": False})  # fmt: skip
            if out.exists():
                rows += [json.loads(line) for line in out.read_text().splitlines()]
    return rows, seconds


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| benchmark | metric | target | measured | |", "|---|---|---|---|---|"]
    for r in rows:
        unit = str(r["unit"])
        target = f"{r['compare']} {r['target']:g}{unit}" if r["compare"] is not None else "—"
        value = "—" if r["value"] is None else f"{float(r['value']):.3g}{unit}"  # type: ignore[arg-type]
        verdict = {True: "pass", False: "**miss**", None: ""}[r["passed"]]  # type: ignore[index]
        lines.append(f"| {r['bench']} | {r['metric']} | {target} | {value} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(BENCH / "results.json"), help="where to write")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or BENCHES
    unknown = set(names) - set(BENCHES)
    if unknown:
        sys.exit(f"unknown benchmarks {sorted(unknown)}; they are {', '.join(BENCHES)}")
    rows, seconds = run(names)
    print("\n" + table(rows))
    missed = sum(r["passed"] is False for r in rows)
    print(f"\n{len(rows)} figures, {missed} missed; seconds per benchmark: "
          + ", ".join(f"{n} {s:.0f}" for n, s in seconds.items()))  # fmt: skip
    Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
