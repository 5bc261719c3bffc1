"""The shipped login journey, whole processes: Patrol with every check vs Patrol with
the eye checks off vs the same six steps for @elastic/synthetics without any checks.

    .venv/bin/python benchmarks/peer.py [--runs 5] [--keep DIR]

A script, not a test. It

* installs @elastic/synthetics (benchmarks/package.json) into benchmarks/node_modules
  with `npm install --prefix benchmarks` when it is missing; benchmarks/.npmrc keeps
  npm from downloading Playwright's browsers: every contender runs /usr/bin/chromium;
* starts the demo bank (`python -m patrol demo serve --port P`);
* writes the peer's journey: the same six steps (goto + wait for the form, two
  fills, click + wait for /home and #total-assets, two scrolls + waits), a
  screenshot per step (`--screenshots on`), network throttling off, 1280x800, the
  machine's Chromium with the closed-network flags Patrol uses;
* writes the eye-less copy of journeys/login.yaml: the same steps, with `text`,
  `not_blank` and `visual` taken out of `expect:` and the always-on detectors
  (blank screen, broken image, forbidden text) switched off. Liveness checks
  (visible, url), budgets, network errors and redaction stay: that is what a run
  without eyes still is;
* alternates the three whole processes (interpreter/Node start, imports, browser
  launch, the journey, reports, state database), rotating who goes first, each
  Patrol run in a fresh folder with a fresh state database and reports folder, so
  every run writes the same history from scratch; prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from patrol.core.net import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_MODULES = HERE / "node_modules"
SYNTHETICS_VERSION = "1.26.3"
CHROMIUM = os.environ.get("PATROL_CHROMIUM", "/usr/bin/chromium")
# The closed-network flags Patrol launches Chromium with (patrol/drivers/chromium.py).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-dev-shm-usage",
                 "--hide-scrollbars", "--font-render-hinting=none"]
EYE_CHECKS = ("text", "not_text", "not_blank", "visual")
DETECTORS_OFF = {"blank_screen": False, "broken_image": False, "forbidden_text": False}

PEER_JOURNEY = r"""
// journeys/login.yaml's six steps, for @elastic/synthetics: actions and waits only, no checks.
const { journey, step } = require('@elastic/synthetics');

journey('login', ({ page, params }) => {
  step('open login page', async () => {
    await page.goto(params.url + '/login');
    await page.locator('#login-form').waitFor();
  });
  step('enter username', async () => {
    await page.fill('#username', 'demo');
  });
  step('enter password', async () => {
    await page.fill('#password', params.password);
  });
  step('sign in', async () => {
    await page.click('#login-submit');
    await page.waitForURL('**/home');
    await page.locator('#total-assets').waitFor();
  });
  step('view net-value chart', async () => {
    await page.locator('#nav-chart').scrollIntoViewIfNeeded();
    await page.locator('#nav-chart').waitFor();
  });
  step('view promo banner', async () => {
    await page.locator('#promo-banner').scrollIntoViewIfNeeded();
    await page.locator('#promo-banner').waitFor();
  });
});
"""


def installed_version() -> str | None:
    pkg = NODE_MODULES / "@elastic" / "synthetics" / "package.json"
    return json.loads(pkg.read_text())["version"] if pkg.is_file() else None


def ensure_peer() -> str:
    """npm install the peer (from benchmarks/package.json) when it is missing; its version."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("peer.py needs node and npm on PATH for @elastic/synthetics")
    if installed_version() is None:
        print("installing @elastic/synthetics: npm install --prefix benchmarks ...", flush=True)
        env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
        subprocess.run(["npm", "install", "--prefix", str(HERE), "--no-audit", "--no-fund", "--loglevel=error"],
                       check=True, env=env)
    version = installed_version()
    if version is None:
        sys.exit("@elastic/synthetics did not install into benchmarks/node_modules")
    return version




def start_bank(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "patrol", "demo", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the demo bank did not start")


def write_eyeless_journey(path: Path) -> None:
    """journeys/login.yaml without its eye checks and with the detectors off (its
    included flows have none)."""
    journey = yaml.safe_load((ROOT / "journeys" / "login.yaml").read_text(encoding="utf-8"))
    journey["detectors"] = dict(DETECTORS_OFF)
    for step in journey["steps"]:
        expect = step.get("expect") or {}
        for key in EYE_CHECKS:
            expect.pop(key, None)
        if not expect:
            step.pop("expect", None)
    path.write_text(yaml.safe_dump(journey, allow_unicode=True, sort_keys=False), encoding="utf-8")


def write_peer_project(folder: Path) -> Path:
    """A tiny npm project (the peer insists on a package.json) holding the journey."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"name": "patrol-peer-journey", "private": true}\n')
    (folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    journey = folder / "login.journey.js"
    journey.write_text(PEER_JOURNEY)
    return journey


def patrol_config(folder: Path, ocr_cache: Path | None = None) -> Path:
    """The project's patrol.yaml with absolute baselines and its state and reports inside ``folder``;
    with ``ocr_cache``, an OCR cache shared by the runs (as a nightly patrol keeps it)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "patrol.yaml").read_text(encoding="utf-8")
    text = text.replace("baselines: baselines", f"baselines: {ROOT / 'baselines'}")
    text = text.replace("journeys: journeys", f"journeys: {ROOT / 'journeys'}")
    if ocr_cache is not None:
        text += f"\nocr: {{cache: {ocr_cache}}}\n"
    config = folder / "patrol.yaml"
    config.write_text(text, encoding="utf-8")
    return config


class Contenders:
    """The three whole processes, each run in a fresh folder of its own."""

    def __init__(self, work: Path, bank_url: str, env: dict[str, str], *, warm_ocr: bool = False):
        self.work, self.url, self.env = work, bank_url, env
        self.ocr_cache = work / "ocr-cache" if warm_ocr else None
        self.eyeless = work / "login-eyeless.yaml"
        write_eyeless_journey(self.eyeless)
        if (ROOT / "journeys" / "flows").is_dir():  # included flows resolve next to the journey
            shutil.copytree(ROOT / "journeys" / "flows", work / "flows", dirs_exist_ok=True)
        self.peer_journey = write_peer_project(work / "peer")
        self.runs = 0

    def _folder(self, name: str) -> Path:
        self.runs += 1
        return self.work / f"{self.runs:03d}-{name}"

    def patrol(self, journey: Path, name: str) -> float:
        folder = self._folder(name)
        config = patrol_config(folder, self.ocr_cache)
        cmd = [sys.executable, "-m", "patrol", "--config", str(config), "run", str(journey), "--base-url", self.url]
        took, out = timed(cmd, self.env, folder)
        reports = sorted((folder / "reports").glob("*/report.json"))
        if not reports:
            sys.exit(f"{name}: no report.json written\n{out}")
        report = json.loads(reports[-1].read_text(encoding="utf-8"))
        findings = [f["reason"] for j in report["journeys"] for s in j["steps"] for f in s["findings"]]
        if findings or report["status"] != "passed":
            sys.exit(f"{name}: the healthy bank got findings {findings} ({report['status']})")
        return took

    def all_checks(self) -> float:
        return self.patrol(ROOT / "journeys" / "login.yaml", "patrol")

    def eyes_off(self) -> float:
        return self.patrol(self.eyeless, "patrol-eyes-off")

    def synthetics(self) -> float:
        folder = self._folder("synthetics")
        folder.mkdir()
        params = json.dumps({"url": self.url, "password": self.env["DEMO_PASSWORD"]})
        options = json.dumps({"executablePath": CHROMIUM, "chromiumSandbox": False, "args": CHROMIUM_ARGS,
                              "viewport": {"width": 1280, "height": 800}, "locale": "zh-CN"})
        out = folder / "synthetics.ndjson"
        cmd = [str(NODE_MODULES / ".bin" / "synthetics"), str(self.peer_journey), "--no-throttling",
               "--screenshots", "on", "--reporter", "json", "--params", params,
               "--playwright-options", options]
        took = timed_to_file(cmd, self.env, self.peer_journey.parent, out)
        events = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
        steps = [e for e in events if e.get("type") == "step/end" and e["step"].get("status") == "succeeded"]
        shots = [e for e in events if e.get("type") == "step/screenshot"]
        if len(steps) != 6 or len(shots) != 6:
            sys.exit(f"synthetics: {len(steps)} steps succeeded, {len(shots)} screenshots (want 6 and 6); see {out}")
        return took


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return took, r.stdout


def timed_to_file(cmd: list[str], env: dict[str, str], cwd: Path, out: Path) -> float:
    """Time ``cmd`` with its reporter's output (screenshots included) written to ``out``."""
    with out.open("wb") as sink:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, cwd=cwd, stdout=sink, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"synthetics failed ({r.returncode}):\n{r.stderr}\nsee {out}")
    return took


def alternate(cases: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    """Each case once per round, who goes first rotating, so drift on a shared machine hits all alike."""
    names = list(cases)
    for name in names:  # warm the page cache, the demo bank and Node's compile cache
        cases[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            times[name].append(cases[name]())
        print(f"round {i + 1}/{runs}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names), flush=True)
    return times


def report(times: dict[str, list[float]], runs: int, version: str) -> None:
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"\nlogin journey (6 steps, a screenshot each), {runs} runs each, alternating, whole processes")
    print(f"{'':34}{'median':>9}{'min':>9}{'max':>9}")
    for name, t in times.items():
        print(f"{name:34}{med[name]:>8.2f}s{min(t):>8.2f}s{max(t):>8.2f}s")
    full, off, peer = med["patrol, all checks"], med["patrol, eye checks off"], med[f"synthetics {version}, no checks"]
    print(f"patrol all checks / synthetics without checks: {full / peer:.2f}x")
    print(f"patrol all checks / patrol eye checks off:     {full / off:.2f}x")
    print(f"patrol eye checks off / synthetics:            {off / peer:.2f}x")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ({os.cpu_count()} CPUs)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="keep every run's folder here (default: a temporary folder)")
    ap.add_argument("--warm-ocr", action="store_true",
                    help="share Patrol's OCR cache between runs, as a nightly patrol of unchanged screens has it "
                         "(default: every Patrol run reads cold)")
    args = ap.parse_args()
    version = ensure_peer()
    os.environ.pop("PATROL_OCR_CACHE", None)  # every case says whether its OCR is cold or warm itself
    env = {**os.environ, "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "patrol-demo-2026"),
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    bank, url = start_bank(env)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.keep).resolve() if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            c = Contenders(work, url, env, warm_ocr=args.warm_ocr)
            cases = {"patrol, all checks": c.all_checks, "patrol, eye checks off": c.eyes_off,
                     f"synthetics {version}, no checks": c.synthetics}
            print("OCR cache: shared between runs (warm)" if args.warm_ocr else "OCR cache: fresh each run (cold)")
            print(f"load average at the start: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
            report(alternate(cases, args.runs), args.runs, version)
    finally:
        bank.terminate()
        bank.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
