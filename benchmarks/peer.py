"""The shipped login journey, whole processes: Patrol with every check vs Patrol with
the eye checks off vs the same six steps for @elastic/synthetics without any checks.

    .venv/bin/python benchmarks/peer.py [--case warm|cold|both] [--journeys 8] [--runs 4] [--keep DIR]

see docs/benchmarks.md for the figures and where the time goes.

Two cases, each timed as whole processes:

* warm (a nightly patrol): N copies (default 8) of the journey in ONE `patrol run`
  (concurrency 1), where imports, models and templates load once, against the same
  N journeys in ONE @elastic/synthetics run: Patrol with every check and its OCR cache
  off (no cache on disk, none in memory: every read is real), with every check and its
  cache on (kept between runs, as a nightly patrol of unchanged screens has it), and
  with the eye checks off;
* cold: one journey per process (interpreter start, imports, models, browser launch):
  Patrol with every check, with the eye checks off, and the peer.

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
  (blank screen, broken image, forbidden, clipped and overlapping text) switched off. Liveness checks
  (visible, url), budgets, network errors and redaction stay: that is what a run
  without eyes still is;
* in the warm case, names the copies login-1, login-2... (names are unique in a run),
  each with a copy of the login journey's baselines; the peer's copies are N
  `journey()` calls in one file (a screenshot per step: JPEG q80, its own choice);
* alternates the whole processes (interpreter/Node start, imports, browser launch,
  the journeys, reports, state database), rotating who goes first, each Patrol run in
  a fresh folder with a fresh state database and reports folder, so every run writes
  the same history from scratch; prints medians and ratios of the wall time, and of the
  CPU seconds of each process and everything it started (Chromium's processes
  included), counted by `perf stat -e task-clock` when perf is installed: on a machine
  shared with other work the CPU seconds are the steadier figure. The 1-minute load
  average after each round is printed with it.
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

from patrol.config.sections import DETECTORS
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
# Every always-on detector is an eye check (blank screen, broken image, forbidden, clipped and
# overlapping text): all off, and so is any added later.
DETECTORS_OFF = dict.fromkeys(DETECTORS, False)

PEER_JOURNEY = r"""
// journeys/login.yaml's six steps, for @elastic/synthetics: actions and waits only, no checks.
const { journey, step } = require('@elastic/synthetics');

for (let copy = 1; copy <= COPIES; copy++) journey(`login ${copy}`, ({ page, params }) => {
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


def write_peer_project(folder: Path, copies: int = 1) -> Path:
    """A tiny npm project (the peer insists on a package.json) holding ``copies`` of the journey."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"name": "patrol-peer-journey", "private": true}\n')
    (folder / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    journey = folder / "login.journey.js"
    journey.write_text(PEER_JOURNEY.replace("COPIES", str(copies)))
    return journey


def patrol_config(folder: Path, ocr: str, baselines: Path) -> Path:
    """The project's patrol.yaml with absolute baselines and its state and reports inside ``folder``.
    ``ocr``: "fresh" (the default cache folder, new in every run's folder), "off" (no cache
    folder) or a folder kept between runs (as a nightly patrol keeps it)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "patrol.yaml").read_text(encoding="utf-8")
    text = text.replace("baselines: baselines", f"baselines: {baselines}")
    text = text.replace("journeys: journeys", f"journeys: {ROOT / 'journeys'}")
    if ocr == "off":
        text += "\nocr: {cache: false}\n"
    elif ocr != "fresh":
        text += f"\nocr: {{cache: {ocr}}}\n"
    config = folder / "patrol.yaml"
    config.write_text(text, encoding="utf-8")
    return config


# `python -m patrol` with the OCR engine's in-memory cache emptied as it loads (lazily, as
# Patrol loads it: on its warm-up thread): with `cache: false` every read is Tesseract's.
NO_MEMORY_CACHE = r"""
import importlib.abc, sys
class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "patrol.ocr.engine":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            module.CACHE_SIZE = 0
        spec.loader.exec_module = exec_module
        return spec
import importlib.util
sys.meta_path.insert(0, _Hook())
sys.argv[0] = "patrol"
from patrol.cli import entry
entry()
"""


class Contenders:
    """The whole processes of one case, each run in a fresh folder of its own. ``copies``:
    journeys per process (1: the cold case)."""

    def __init__(self, work: Path, bank_url: str, env: dict[str, str], copies: int, version: str):
        self.work, self.url, self.env, self.copies, self.version = work, bank_url, env, copies, version
        work.mkdir(parents=True, exist_ok=True)
        self.ocr_kept = work / "ocr-cache"
        self.baselines = ROOT / "baselines" if copies == 1 else work / "baselines"
        eyeless = work / "login-eyeless.yaml"
        write_eyeless_journey(eyeless)
        if (ROOT / "journeys" / "flows").is_dir():  # included flows resolve next to the journey
            shutil.copytree(ROOT / "journeys" / "flows", work / "flows", dirs_exist_ok=True)
        self.full = self._copies(ROOT / "journeys" / "login.yaml", "login")
        self.eyeless = self._copies(eyeless, "login-eyeless")
        self.peer_journey = write_peer_project(work / "peer", copies)
        self.runs = 0

    def _copies(self, journey: Path, stem: str) -> list[Path]:
        """``copies`` files of the journey beside its flows, named login-1, login-2... (names are
        unique in a run), each with a copy of the login journey's baselines."""
        if self.copies == 1:
            return [journey]
        paths = []
        for i in range(1, self.copies + 1):
            data = yaml.safe_load(journey.read_text(encoding="utf-8"))
            data["name"] = f"login-{i}"
            paths.append(self.work / f"{stem}-{i}.yaml")
            paths[-1].write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
            shutil.copytree(ROOT / "baselines" / "login", self.baselines / f"login-{i}", dirs_exist_ok=True)
        return paths

    def _folder(self, name: str) -> Path:
        self.runs += 1
        return self.work / f"{self.runs:03d}-{name}"

    def patrol(self, journeys: list[Path], name: str, ocr: str) -> Cost:
        folder = self._folder(name)
        config = patrol_config(folder, self.ocr_kept.as_posix() if ocr == "kept" else ocr, self.baselines)
        start = ["-c", NO_MEMORY_CACHE] if ocr == "off" else ["-m", "patrol"]
        cmd = [sys.executable, *start, "--config", str(config), "run", *map(str, journeys),
               "--base-url", self.url, "--concurrency", "1"]
        took, out = timed(cmd, self.env, folder)
        reports = sorted((folder / "reports").glob("*/report.json"))
        if not reports:
            sys.exit(f"{name}: no report.json written\n{out}")
        report = json.loads(reports[-1].read_text(encoding="utf-8"))
        findings = [f["reason"] for j in report["journeys"] for s in j["steps"] for f in s["findings"]]
        if findings or report["status"] != "passed" or len(report["journeys"]) != self.copies:
            sys.exit(f"{name}: the healthy bank got findings {findings} ({report['status']}, "
                     f"{len(report['journeys'])} journeys)")
        return took

    def cases(self) -> dict[str, Callable[[], Cost]]:
        peer = f"synthetics {self.version}, no checks"
        if self.copies == 1:
            return {"patrol, all checks": lambda: self.patrol(self.full, "patrol", "fresh"),
                    "patrol, eye checks off": lambda: self.patrol(self.eyeless, "patrol-eyes-off", "fresh"),
                    peer: self.synthetics}
        return {"patrol, all checks, OCR cache off": lambda: self.patrol(self.full, "patrol-ocr-off", "off"),
                "patrol, all checks, OCR cache on": lambda: self.patrol(self.full, "patrol-ocr-kept", "kept"),
                "patrol, eye checks off": lambda: self.patrol(self.eyeless, "patrol-eyes-off", "off"),
                peer: self.synthetics}

    def synthetics(self) -> Cost:
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
        want = 6 * self.copies
        if len(steps) != want or len(shots) != want:
            sys.exit(f"synthetics: {len(steps)} steps succeeded, {len(shots)} screenshots (want {want} and {want}); "
                     f"see {out}")
        return took


# A run's cost: wall seconds, and CPU seconds of the process and every process it started
# (Node, Chromium's processes, detached or not), counted by `perf stat -e task-clock` when
# perf is there (else 0): on a machine shared with other work the CPU seconds move much
# less than the wall time.
Cost = tuple[float, float]


def _perf_works() -> bool:
    if shutil.which("perf") is None:
        return False
    r = subprocess.run(["perf", "stat", "-e", "task-clock", "-x,", "--", "true"], capture_output=True, text=True)
    return r.returncode == 0 and "task-clock" in r.stderr


PERF = _perf_works()


def _counted(cmd: list[str], cwd: Path) -> tuple[list[str], Path]:
    out = cwd / "task-clock.csv"
    return (["perf", "stat", "-e", "task-clock", "-x,", "-o", str(out), "--", *cmd] if PERF else cmd), out


def _cpu_seconds(out: Path) -> float:
    if not PERF or not out.is_file():
        return 0.0
    for line in out.read_text(encoding="utf-8").splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("task-clock"):
            return float(fields[0]) / 1000
    return 0.0


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[Cost, str]:
    counted, clock = _counted(cmd, cwd)
    t0 = time.perf_counter()
    r = subprocess.run(counted, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return (took, _cpu_seconds(clock)), r.stdout


def timed_to_file(cmd: list[str], env: dict[str, str], cwd: Path, out: Path) -> Cost:
    """Time ``cmd`` with its reporter's output (screenshots included) written to ``out``."""
    counted, clock = _counted(cmd, cwd)
    with out.open("wb") as sink:
        t0 = time.perf_counter()
        r = subprocess.run(counted, env=env, cwd=cwd, stdout=sink, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"synthetics failed ({r.returncode}):\n{r.stderr}\nsee {out}")
    return took, _cpu_seconds(clock)


def alternate(cases: dict[str, Callable[[], Cost]], runs: int) -> tuple[dict[str, list[Cost]], list[float]]:
    """Each case once per round, who goes first rotating, so drift on a shared machine hits
    all alike; the costs and the 1-minute load average after each round."""
    names = list(cases)
    for name in names:  # warm the page cache, the demo bank, Node's compile cache and the kept OCR cache
        cases[name]()
    costs: dict[str, list[Cost]] = {n: [] for n in names}
    loads = []
    for i in range(runs):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            costs[name].append(cases[name]())
        loads.append(os.getloadavg()[0])
        print(f"round {i + 1}/{runs} (load {loads[-1]:.1f}): "
              + ", ".join(f"{n} {costs[n][-1][0]:.2f}s ({costs[n][-1][1]:.1f} CPU-s)" for n in names), flush=True)
    return costs, loads


def report(title: str, costs: dict[str, list[Cost]], loads: list[float], copies: int) -> None:
    walls = {n: [c[0] for c in cs] for n, cs in costs.items()}
    med = {n: statistics.median(t) for n, t in walls.items()}
    cpu = {n: statistics.median(c[1] for c in cs) for n, cs in costs.items()}
    peer = next(n for n in costs if n.startswith("synthetics"))
    off = "patrol, eye checks off"
    print(f"\n{title}: {len(loads)} alternating runs each, medians; load average {min(loads):.1f}–{max(loads):.1f} "
          f"({os.cpu_count()} CPUs)")
    print(f"{'':40}{'wall':>8}{'min':>8}{'max':>8}{'/journey':>9}{'÷ peer':>8}{'÷ eyes off':>11}"
          f"{'CPU-s':>8}{'÷ peer':>8}")
    for name, t in walls.items():
        print(f"{name:40}{med[name]:>7.2f}s{min(t):>7.2f}s{max(t):>7.2f}s{med[name] / copies:>8.2f}s"
              f"{med[name] / med[peer]:>7.2f}x{med[name] / med[off]:>10.2f}x{cpu[name]:>8.1f}{cpu[name] / cpu[peer]:>7.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=("warm", "cold", "both"), default="both")
    ap.add_argument("--journeys", type=int, default=8, help="journeys per process in the warm case (default 8)")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--keep", metavar="DIR", help="keep every run's folder here (default: a temporary folder)")
    args = ap.parse_args()
    version = ensure_peer()
    os.environ.pop("PATROL_OCR_CACHE", None)  # every case says whether its OCR is cold or warm itself
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # Patrol as installed: its bytecode cached
    env = {**os.environ, "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "patrol-demo-2026"),
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    bank, url = start_bank(env)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.keep).resolve() if args.keep else Path(tmp)
            print(f"load average at the start: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
            if args.case in ("warm", "both"):
                warm = Contenders(work / "warm", url, env, args.journeys, version)
                times, loads = alternate(warm.cases(), args.runs)
                report(f"warm: {args.journeys} login journeys (6 steps, a screenshot each) in one process",
                       times, loads, args.journeys)
            if args.case in ("cold", "both"):
                cold = Contenders(work / "cold", url, env, 1, version)
                times, loads = alternate(cold.cases(), args.runs)
                report("cold: one login journey per process (OCR cache new in each run)", times, loads, 1)
    finally:
        bank.terminate()
        bank.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
