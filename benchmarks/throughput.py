"""Throughput: 20 journeys against the demo bank at concurrency N = 1, 2, 4, 8, in one
invocation; prints journeys per minute and peak memory for each.

    .venv/bin/python benchmarks/throughput.py                 # the shipped web journeys, cycled to 20
    .venv/bin/python benchmarks/throughput.py --levels 1,4 --journeys 8
    .venv/bin/python benchmarks/throughput.py --light         # a 4-step login journey instead

Each level runs the same journeys through the same path as `patrol run` (runner,
reports; no state database) with a fresh Chromium, so levels do not warm each other
up. The journeys are the shipped ones (OCR, visual baselines with settling, redaction:
the real per-step work), copied under unique names with their approved baselines.

Memory is sampled every 0.2 s over this process and all its children (Chromium and
Playwright's driver), as PSS (shared pages counted once, split between the processes
sharing them) where the kernel offers it, else RSS. The demo bank runs in this process
too (a few MB).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The demo bank's sign-in, as journey steps (a str.format template: braces doubled); the
# tracing benchmark and the trace-waterfall picture sign in with the same steps.
SIGN_IN_STEPS = """\
  - name: open login page
    goto: /login
    expect: {{visible: "#login-form"}}
  - name: enter username
    fill: {{selector: "#username", text: demo}}
  - name: enter password
    fill: {{selector: "#password", text: "${{secret:DEMO_PASSWORD}}"}}
  - name: sign in
    click: "#login-submit"
    expect: {{url: /home, visible: "#total-assets"}}
"""
LIGHT = """\
name: {name}
base_url: {url}
detectors: {{forbidden_text: false}}
budgets: {{step: 5s, timeout: 10s}}
steps:
""" + SIGN_IN_STEPS


# -- memory -------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _memory_kb(pid: int) -> int:
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1])
        except OSError:
            continue
    return 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def tree_memory_mb() -> tuple[float, float]:
    """(everything, Chromium only) in MB for this process and its descendants."""
    tree = _children()
    total = browser = 0
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        kb = _memory_kb(pid)
        total += kb
        if _comm(pid).startswith(("chromium", "chrome")):
            browser += kb
        todo.extend(tree.get(pid, []))
    return total / 1024, browser / 1024


class Sampler:
    def __init__(self, every: float = 0.2):
        self.every = every
        self.peak = (0.0, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total, browser = tree_memory_mb()
            self.peak = (max(self.peak[0], total), max(self.peak[1], browser))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# -- set-up -----------------------------------------------------------------------------------
def prepare(work: Path, count: int, light: bool) -> tuple[list[Path], Path]:
    import yaml

    folder, baselines = work / "journeys", work / "baselines"
    folder.mkdir()
    baselines.mkdir()
    sources = [None] if light else sorted(p for p in (ROOT / "journeys").glob("*.yaml"))
    if not light:  # what the shipped journeys include and upload, beside them as in journeys/
        for shared in ("flows", "steps", "files"):
            if (ROOT / "journeys" / shared).is_dir():
                shutil.copytree(ROOT / "journeys" / shared, folder / shared)
    paths = []
    for i in range(count):
        src = sources[i % len(sources)]
        if src is None:
            name = f"login-{i + 1:02d}"
            text = LIGHT.format(name=name, url="http://127.0.0.1:8800")  # the run's base_url (the bank it starts) wins
        else:
            data = yaml.safe_load(src.read_text(encoding="utf-8"))
            original = data["name"]
            name = f"{original}-{i + 1:02d}"
            text = src.read_text(encoding="utf-8").replace(f"name: {original}\n", f"name: {name}\n", 1)
            if (ROOT / "baselines" / original).is_dir():
                shutil.copytree(ROOT / "baselines" / original, baselines / name)
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    (work / "patrol.yaml").write_text(f"state: false\nvisual: {{baselines: {baselines}, settle_timeout: 5s}}\n"
                                      "forbidden_text: {add: [请稍后重试]}\n", encoding="utf-8")
    return paths, work / "patrol.yaml"


def chromium_version() -> str:
    import subprocess

    from patrol.drivers.chromium import find_chromium

    try:
        return subprocess.run([find_chromium(), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=20)
    parser.add_argument("--levels", default="1,2,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--light", action="store_true", help="a 4-step login journey instead of the shipped journeys")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    os.environ.setdefault("DEMO_PASSWORD", "patrol-demo-2026")

    from patrol import console, plugins
    from patrol.application.core import Patrol
    from patrol.config import load_config
    from patrol.demo.server import DemoBank
    from patrol.journey import load_all
    from patrol.runner import Runner, RunOptions

    quiet = lambda *_a, **_k: None  # noqa: E731
    console.say = quiet  # the table is the output
    plugins.load()  # every action, check and driver registered, as the CLI does
    rows = []
    with tempfile.TemporaryDirectory(prefix="patrol-throughput-") as tmp, DemoBank(port=0) as bank:
        work = Path(tmp)
        paths, cfg_path = prepare(work, args.journeys, args.light)
        config = load_config(str(cfg_path))
        journeys = load_all([str(p) for p in paths])
        idle_mb, _ = tree_memory_mb()
        for n in levels:
            options = RunOptions(output=work / f"run-n{n}", reports_root=work / "reports", base_url=bank.url, concurrency=n)
            runner = Runner(config, options, [])
            with Sampler() as sampler:
                t0 = time.monotonic()
                outcome = Patrol(runner, index=False, say=quiet).run(journeys)
                wall = time.monotonic() - t0
            run = outcome.run
            passed = sum(1 for j in run.journeys if j.status == "passed")
            steps = sum(1 for j in run.journeys for s in j.steps if s.status != "skipped")
            reasons: dict[str, int] = {}
            for j in run.journeys:
                for f in j.findings:
                    reasons[f.reason] = reasons.get(f.reason, 0) + 1
                if j.robot_error:
                    reasons[j.robot_error["reason"]] = reasons.get(j.robot_error["reason"], 0) + 1
            starved = sum(1 for j in run.journeys for s in j.steps if "robot_starved" in s.artifacts)
            if starved:  # over budget only because the robot waited for a CPU: a note, not a finding
                reasons["(robot starved: not a stall)"] = starved
            said = ", ".join(f"{k} ×{v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])) or "-"
            rows.append((n, len(run.journeys), passed, steps, wall, len(run.journeys) / wall * 60, *sampler.peak, said))
            print(f"N={n}: {len(run.journeys)} journeys in {wall:.1f}s", file=sys.stderr, flush=True)

    what = "4-step login journey" if args.light else "shipped web journeys (" + ", ".join(
        sorted({p.stem.rsplit('-', 1)[0] for p in paths})) + ")"
    print(f"\n{args.journeys} journeys: {what}, demo bank on 127.0.0.1")
    print(f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
          f"{chromium_version()}; memory before the runs {idle_mb:.0f} MB\n")
    print("| N | journeys | passed | wall time | journeys/min | peak memory (Patrol + Chromium) | of which Chromium | findings |")
    print("|--:|--:|--:|--:|--:|--:|--:|:--|")
    for n, count, passed, _steps, wall, jpm, peak_total, peak_browser, said in rows:
        print(f"| {n} | {count} | {passed} | {wall:.1f} s | {jpm:.1f} | {peak_total:.0f} MB | {peak_browser:.0f} MB | {said} |")
    try:
        load = os.getloadavg()
        print(f"\nload average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
