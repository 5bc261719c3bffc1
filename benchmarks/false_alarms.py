"""No false alarms: N consecutive healthy patrols of every shipped journey against
the demo bank, and of the journeys for the two real apps the suite patrols (JupyterLab
and Node-RED, installed by `make real-apps`, reached through the tests' pass-through
proxy), must give zero findings (the human-eye checks included).

    .venv/bin/python benchmarks/false_alarms.py [--runs 20] [--apps demo,jupyter,node-red]

Prints one line per run and a summary per app; exits 1 if any run had a finding. The
first run of a real app stores its visual baselines (a new user's first patrol); the
runs after it compare against them.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


REAL_APP_CONFIG = "state: false\nbrowser: {locale: en-US, timezone: UTC}\nvisual: {baselines: baselines}\n"
# The highest Web Vital each app's healthy steps reached (app -> vital -> (value, journey, step)):
# how far inside their budgets healthy runs stay.
VITALS: dict[str, dict[str, tuple[float, str, str]]] = {}


def patrol_runs(label: str, runs: int, argv: list[str], cwd: Path, out_root: Path, findings: Counter) -> int:
    """``runs`` patrols of the same journeys; findings counted by (app, journey, step, reason)."""
    journeys_run = 0
    for i in range(runs):
        out = out_root / f"{label}-run{i}"
        r = subprocess.run([sys.executable, "-m", "patrol", *argv, "--output", str(out)],
                           capture_output=True, text=True, cwd=cwd)
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        n = 0
        for j in report["journeys"]:
            journeys_run += 1
            for s in j["steps"]:
                _note_vitals(label, j["name"], s)
                for f in s["findings"]:
                    findings[(label, j["name"], s["name"], f["reason"])] += 1
                    n += 1
        print(f"{label} run {i + 1:2d}/{runs}: exit {r.returncode}, {len(report['journeys'])} journeys, {n} findings", flush=True)
    return journeys_run


def _note_vitals(label: str, journey: str, step: dict[str, Any]) -> None:
    vitals = (step.get("artifacts") or {}).get("vitals") or {}
    highest = VITALS.setdefault(label, {})
    for key in ("lcp_ms", "fcp_ms", "ttfb_ms", "inp_ms", "cls"):
        value = vitals.get(key)
        if isinstance(value, (int, float)) and value > highest.get(key, (-1.0, "", ""))[0]:
            highest[key] = (float(value), journey, step["name"])


def demo(runs: int, tmp: Path, findings: Counter) -> int:
    from patrol.demo import DEFAULT_PASSWORD
    from patrol.demo.server import DemoBank

    os.environ.setdefault("DEMO_PASSWORD", DEFAULT_PASSWORD)
    with DemoBank(port=0) as bank:
        # The project's settings and committed baselines, without a state database:
        # this counts findings, it does not open incidents.
        config = tmp / "patrol.yaml"
        config.write_text((ROOT / "patrol.yaml").read_text(encoding="utf-8").replace(
            "baselines: baselines", f"baselines: {ROOT / 'baselines'}") + "\nstate: false\n", encoding="utf-8")
        argv = ["--config", str(config), "run", *map(str, sorted((ROOT / "journeys").glob("*.yaml"))),  # web journeys
                "--base-url", bank.url]
        return patrol_runs("demo", runs, argv, ROOT, tmp, findings)


def real_app(name: str, runs: int, tmp: Path, findings: Counter) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from real_apps import apps

    start, env_var = {"jupyter": (apps.start_jupyter, "JUPYTER_URL"), "node-red": (apps.start_node_red, "NODE_RED_URL")}[name]
    data = tmp / f"{name}-data"
    data.mkdir()
    app = start(data)
    try:
        os.environ[env_var] = app.url
        project = tmp / f"{name}-project"
        project.mkdir()
        (project / "patrol.yaml").write_text(REAL_APP_CONFIG, encoding="utf-8")
        argv = ["--config", str(project / "patrol.yaml"), "run", *map(str, app.journeys())]
        return patrol_runs(name, runs, argv, project, tmp, findings)
    finally:
        app.proxy.stop()
        apps.stop_tree(app.proc, grace_s=10)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--apps", default="demo,jupyter,node-red", help="comma-separated: demo, jupyter, node-red")
    args = ap.parse_args()
    findings: Counter = Counter()
    journeys_run: dict[str, int] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.apps.split(","):
            folder = Path(tmp) / name
            folder.mkdir()
            journeys_run[name] = demo(args.runs, folder, findings) if name == "demo" else real_app(name, args.runs, folder, findings)
    print(f"{args.runs} runs each, {time.perf_counter() - t0:.0f}s")
    for name, n in journeys_run.items():
        print(f"  {name}: {n} journeys, {sum(c for k, c in findings.items() if k[0] == name)} findings")
    for name, highest in VITALS.items():
        print(f"  {name} highest vitals: " + ", ".join(f"{k} {v:g} ({j} / {s})" for k, (v, j, s) in sorted(highest.items())))
    for key, count in findings.most_common():
        print(f"  {count}x {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
