"""What ``tracing:`` costs a patrol: the same sign-in journey (four browser steps and a
``request:`` step) against a healthy demo bank, with tracing off, on with a live OTLP
receiver on loopback, and on with a collector nobody listens on. The modes are
interleaved, N runs each, in one process (``patrol run``'s own path, ``cli.main``); it
prints the medians of the journey's own time (report.json) and of the whole run (the
end-of-run flush included).

    .venv/bin/python benchmarks/tracing.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from throughput import SIGN_IN_STEPS  # noqa: E402  (this folder: the script's own)

JOURNEY = """\
name: signin
base_url: {url}
budgets: {{step: 5s, timeout: 10s}}
steps:
""" + SIGN_IN_STEPS + """\
  - name: fund list
    request: {{url: /api/funds, session: browser}}
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from otlp_receiver import OtlpReceiver

    from patrol.cli import main as patrol
    from patrol.demo.server import DemoBank

    os.environ.setdefault("DEMO_PASSWORD", secrets.token_urlsafe(12))
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": [], "collector down": []}
    with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as otlp, DemoBank(port=0) as bank:
        root = Path(tmp)
        (root / "j.yaml").write_text(JOURNEY.format(url=bank.url), encoding="utf-8")
        tracing = {"off": "{enabled: false}", "on": f"{{enabled: true, otlp: '{otlp.url}'}}",
                   "collector down": f"{{enabled: true, otlp: 'http://127.0.0.1:{_closed_port()}'}}"}
        for i in range(args.runs):
            for mode, setting in tracing.items():
                config = root / "patrol.yaml"
                config.write_text(f"state: false\ndetectors: {{forbidden_text: false}}\ntracing: {setting}\n",
                                  encoding="utf-8")
                out = root / f"run-{i}-{mode.replace(' ', '-')}"
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    code = patrol(["--config", str(config), "run", str(root / "j.yaml"), "--output", str(out)])
                took = time.perf_counter() - t0
                report = json.loads((out / "report.json").read_text(encoding="utf-8"))
                if code != 0:
                    raise SystemExit(f"{mode}: exit {code}: {report['journeys'][0]['steps']}")
                results[mode].append((report["journeys"][0]["duration_ms"] / 1000, took))
        spans = len(otlp.spans)
    print(f"{args.runs} runs each, load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for mode, runs in results.items():
        journey = statistics.median(r[0] for r in runs)
        whole = statistics.median(r[1] for r in runs)
        print(f"  tracing {mode:15s} journey {journey:6.2f} s   whole run {whole:6.2f} s")
    print(f"  spans received from the traced runs: {spans} (6 per run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
