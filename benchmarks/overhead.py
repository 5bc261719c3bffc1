"""Patrol's overhead over a bare Playwright script doing the same actions.

Runs the shipped login journey with `patrol run` and the same actions as a bare
Playwright script (benchmarks/_bare_login.py) on the same Chromium against the
same local demo bank, alternating, N times each, and prints medians and the ratio.
Both are timed as whole processes (interpreter start, imports, browser launch).

    .venv/bin/python benchmarks/overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    from patrol.demo.server import DemoBank

    env = {**os.environ, "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "patrol-demo-2026")}
    env.pop("PATROL_OCR_CACHE", None)  # no shared cache from the caller's shell
    os.environ["DEMO_PASSWORD"] = env["DEMO_PASSWORD"]
    patrol_times, bare_times = [], []
    with DemoBank(port=0) as bank, tempfile.TemporaryDirectory() as tmp:
        def patrol_cmd(i: object) -> list[str]:
            return [sys.executable, "-m", "patrol", "run", str(ROOT / "journeys/login.yaml"),
                    "--base-url", bank.url, "--output", f"{tmp}/p{i}"]

        def bare_cmd(i: object) -> list[str]:
            return [sys.executable, str(ROOT / "benchmarks/_bare_login.py"), bank.url, tmp]

        timed(patrol_cmd("warm"), env)  # warm the page cache for both
        timed(bare_cmd("warm"), env)
        for i in range(args.runs):
            patrol_times.append(timed(patrol_cmd(i), env))
            bare_times.append(timed(bare_cmd(i), env))
    p, b = statistics.median(patrol_times), statistics.median(bare_times)
    print(f"login journey (6 steps, screenshot each), {args.runs} runs each, alternating, whole processes")
    print(f"{'':18}{'median':>10}{'min':>10}{'max':>10}")
    print(f"{'patrol run':18}{p:>9.2f}s{min(patrol_times):>9.2f}s{max(patrol_times):>9.2f}s")
    print(f"{'bare playwright':18}{b:>9.2f}s{min(bare_times):>9.2f}s{max(bare_times):>9.2f}s")
    print(f"median ratio patrol/bare: {p / b:.2f}x")


if __name__ == "__main__":
    main()
