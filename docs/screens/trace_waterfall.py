"""Draw docs/screens/trace-waterfall.png: a patrol's trace beside the demo bank's spans.

    .venv/bin/python docs/screens/trace_waterfall.py [--out docs/screens]

It starts an OTLP/HTTP receiver on loopback (the tests' ``otlp_receiver``), the demo bank
traced to it with a 4 s account API (``slow_api=account:4000``), patrols it once with a
sign-in journey and ``tracing:`` on, and draws the journey's trace as received (the
journey span, its step spans, the bank's server spans under the steps that called them)
as a waterfall, photographed in Debian's Chromium. Nothing outside a temporary folder
and ``--out`` is touched."""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]

from throughput import SIGN_IN_STEPS  # noqa: E402  (the benchmarks' sign-in steps)

CHROMIUM = "/usr/bin/chromium"
JOURNEY = """\
name: login
base_url: {url}
budgets: {{step: 3s, timeout: 10s}}
steps:
""" + SIGN_IN_STEPS + """\
  - name: fund list
    request: {{url: /api/funds, session: browser}}
"""


def _patrol(root: Path) -> tuple[str, list]:
    from otlp_receiver import OtlpReceiver

    from patrol.cli import main
    from patrol.demo.server import DemoBank

    os.environ.setdefault("DEMO_PASSWORD", secrets.token_urlsafe(12))
    with OtlpReceiver() as otlp, DemoBank(port=0, faults=["slow_api=account:4000"], otlp=otlp.url) as bank:
        (root / "patrol.yaml").write_text(
            f"state: false\ntracing: {{enabled: true, otlp: '{otlp.url}', link: 'http://tempo/trace/{{trace_id}}'}}\n",
            encoding="utf-8")
        (root / "login.yaml").write_text(JOURNEY.format(url=bank.url), encoding="utf-8")
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            main(["--config", str(root / "patrol.yaml"), "run", str(root / "login.yaml"), "--output", str(root / "run")])
        trace_id = json.loads((root / "run" / "report.json").read_text(encoding="utf-8"))["journeys"][0]["trace_id"]
        bank.tracing.flush()
        spans = otlp.wait_for(lambda ss: sum(s.trace_id == trace_id for s in ss) >= 8)
    return trace_id, [s for s in spans if s.trace_id == trace_id]


def _page(trace_id: str, spans: list) -> str:
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list] = {}
    for s in spans:
        children.setdefault(s.parent_span_id if s.parent_span_id in by_id else "", []).append(s)
    rows: list[tuple[int, object]] = []

    def walk(parent: str, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda x: x.start_ns):
            rows.append((depth, s))
            walk(s.span_id, depth + 1)

    walk("", 0)
    t0 = min(s.start_ns for s in spans)
    total = max(s.end_ns for s in spans) - t0
    lines = []
    for depth, s in rows:
        left = (s.start_ns - t0) / total * 100
        width = max((s.end_ns - s.start_ns) / total * 100, 0.4)
        cls = "bank" if s.service == "demo-bank" else "patrol"
        err = " error" if s.status_code == 2 else ""
        note = s.attributes.get("patrol.finding.kind") or ""
        lines.append(
            f'<div class="row"><div class="name" style="padding-left:{depth * 18 + 6}px">'
            f'<span class="svc {cls}">{html.escape(s.service)}</span> {html.escape(s.name)}'
            f'{f" <b>{html.escape(str(note))}</b>" if note else ""}</div>'
            f'<div class="lane"><div class="bar {cls}{err}" style="left:{left:.2f}%;width:{width:.2f}%"></div>'
            f'<span class="ms" style="left:calc({left + width:.2f}% + 6px)">{s.ms / 1000:.2f} s</span></div></div>')
    return f"""<!doctype html><meta charset="utf-8"><style>
body {{ font: 13px/1.3 system-ui, sans-serif; margin: 16px; width: 1060px; color: #1f2328 }}
h1 {{ font-size: 15px; margin: 0 0 10px }} code {{ font-size: 12px }}
.row {{ display: flex; align-items: center; height: 24px; border-bottom: 1px solid #eef0f2 }}
.name {{ width: 380px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis }}
.name b {{ color: #b35900; font-weight: 600 }}
.lane {{ position: relative; flex: 1; height: 24px }}
.bar {{ position: absolute; top: 6px; height: 12px; border-radius: 2px }}
.bar.patrol {{ background: #4a7fd4 }} .bar.bank {{ background: #2e9e6b }}
.bar.error {{ box-shadow: 0 0 0 2px #d1242f }}
.ms {{ position: absolute; top: 4px; font-size: 11px; color: #57606a; white-space: nowrap }}
.svc {{ font-size: 11px; padding: 1px 5px; border-radius: 3px; color: #fff }}
.svc.patrol {{ background: #4a7fd4 }} .svc.bank {{ background: #2e9e6b }}
</style><h1>Trace <code>{trace_id}</code>: a patrol of the demo bank with a 4 s account API</h1>
{"".join(lines)}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screens"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        trace_id, spans = _patrol(Path(tmp))
        page_file = Path(tmp) / "waterfall.html"
        page_file.write_text(_page(trace_id, spans), encoding="utf-8")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1092, "height": 200})
            page.goto(page_file.as_uri())
            out = Path(args.out) / "trace-waterfall.png"
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    print(f"wrote {out} ({len(spans)} spans)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
