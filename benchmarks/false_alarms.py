"""No false alarms: N consecutive healthy patrols of every shipped journey against
the demo bank must give zero findings (the human-eye checks included).

    .venv/bin/python benchmarks/false_alarms.py [--runs 20]

Prints one line per run and a summary; exits 1 if any run had a finding.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    from patrol.demo import DEFAULT_PASSWORD
    from patrol.demo.server import DemoBank

    os.environ.setdefault("DEMO_PASSWORD", DEFAULT_PASSWORD)
    findings: Counter = Counter()
    journeys_run = 0
    t0 = time.perf_counter()
    with DemoBank(port=0) as bank, tempfile.TemporaryDirectory() as tmp:
        # The project's settings and committed baselines, without a state database:
        # this counts findings, it does not open incidents.
        config = Path(tmp) / "patrol.yaml"
        config.write_text((ROOT / "patrol.yaml").read_text(encoding="utf-8").replace(
            "baselines: baselines", f"baselines: {ROOT / 'baselines'}") + "\nstate: false\n", encoding="utf-8")
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            r = subprocess.run(
                [sys.executable, "-m", "patrol", "--config", str(config), "run",
                 *map(str, sorted((ROOT / "journeys").glob("*.yaml"))),  # the web journeys (app/ needs Appium)
                 "--base-url", bank.url, "--output", str(out)],
                capture_output=True, text=True, cwd=ROOT,
            )
            report = json.loads((out / "report.json").read_text(encoding="utf-8"))
            n = 0
            for j in report["journeys"]:
                journeys_run += 1
                for s in j["steps"]:
                    for f in s["findings"]:
                        findings[(j["name"], s["name"], f["reason"])] += 1
                        n += 1
            print(f"run {i + 1:2d}/{args.runs}: exit {r.returncode}, {len(report['journeys'])} journeys, {n} findings", flush=True)
    print(f"{args.runs} runs, {journeys_run} journeys, {sum(findings.values())} findings in {time.perf_counter() - t0:.0f}s")
    for key, count in findings.most_common():
        print(f"  {count}x {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
