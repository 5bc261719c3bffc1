"""How long an API probe takes: a journey of ``request:`` steps only (sign in, the
account with a JSON-path expectation, the funds list), which runs without a browser.

Runs it with ``patrol run`` against a local demo bank N times and prints medians of the
journey's own time (from report.json: the steps, what a probe every minute costs the
app's side) and of the whole process (interpreter start and imports included). With
``--browser``, the same probe with one browser step first (``goto: /login``) for the
price of starting Chromium.

    .venv/bin/python benchmarks/api_steps.py [--runs 7] [--browser]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE = """\
name: {name}
base_url: {url}
steps:
{first}  - name: sign in
    request:
      method: POST
      url: /api/login
      json: {{username: demo, password: "${{secret:DEMO_PASSWORD}}"}}
      expect: {{status: 200, json: {{"$.ok": true}}}}
  - name: account
    request:
      url: /api/account
      budget: 1s
      expect: {{json: {{"$.total_assets": {{number: ">= 0"}}}}}}
  - name: funds
    request: GET /api/funds
"""


def run_once(journey: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """(whole process, the journey's own time from its report), in seconds."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "patrol", "run", str(journey), "--output", str(out)],
                       env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"patrol run failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return took, report["journeys"][0]["duration_ms"] / 1000


def measure(name: str, journey: Path, tmp: Path, runs: int, env: dict[str, str]) -> None:
    run_once(journey, tmp / f"{name}-warm", env)  # warm the page cache
    whole, own = [], []
    for i in range(runs):
        w, o = run_once(journey, tmp / f"{name}-{i}", env)
        whole.append(w)
        own.append(o)
    print(f"{name:24}{statistics.median(own) * 1000:>10.0f} ms{min(own) * 1000:>8.0f}{max(own) * 1000:>8.0f}"
          f"{statistics.median(whole):>11.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--browser", action="store_true", help="also the same probe after one browser step")
    args = ap.parse_args()
    from patrol.demo.server import DemoBank

    env = {**os.environ, "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "patrol-demo-2026")}
    os.environ["DEMO_PASSWORD"] = env["DEMO_PASSWORD"]
    with DemoBank(port=0) as bank, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "patrol.yaml").write_text("state: false\n", encoding="utf-8")
        env["PATROL_CONFIG"] = str(tmp / "patrol.yaml")
        cases = [("api-probe", "")] + ([("api-probe-after-browser", "  - goto: /login\n")] if args.browser else [])
        print(f"3 request: steps, {args.runs} runs each; the journey's time (median, min, max) and the whole process")
        for name, first in cases:
            journey = tmp / f"{name}.yaml"
            journey.write_text(PROBE.format(name=name, url=bank.url, first=first), encoding="utf-8")
            measure(name, journey, tmp, args.runs, env)


if __name__ == "__main__":
    main()
