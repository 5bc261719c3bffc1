"""The fleet vs the single machine: 40 journeys through one and then two `patrol worker`
processes (and two workers on a remote browser server), side by side with the same 40
journeys run by one `patrol run` on this machine.

    .venv/bin/python benchmarks/fleet.py [--runs 3] [--journeys 40] [--no-remote]

A script, not a test. It starts a private redis-server and PostgreSQL (the tests'
helpers, tests/redis_server.py and tests/pg_server.py: Debian's binaries, loopback
ports, temporary folders) and the demo bank, writes 40 copies of a 4-step login
journey, and per round, in rotating order:

* ``single``: `patrol run journeys/ --concurrency 2` (one process, one Chromium,
  the run recorded in PostgreSQL): the single-machine mode;
* ``1 worker``: one `patrol worker --concurrency 2`;
* ``2 workers``: two `patrol worker --concurrency 1`;
* ``2 workers, remote browser``: the same with `browser: {connect: ws://...}` to one
  `python -m patrol.browser_server` (the browsers run in that process, not the workers).

For the fleet modes the workers are started and idle first (a fleet's normal
state); the clock starts when the 40 firings are sent (`FleetDispatch`, what the
leader does) and stops when PostgreSQL says all 40 firings are finished. Queue wait
is each firing's first attempt start minus its enqueue time. The single mode is the
whole `patrol run` process (interpreter and Chromium start included, ~2 s).

Overhead per task = (fleet time − single time) / journeys at the same total
concurrency (2): what one-run-per-firing (a run, report folder and incident record
per journey, the broker round trip, the claim and lease) costs over one batch run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from peer import start_bank  # noqa: E402
from pg_server import PgServer, pg_bin  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from throughput import LIGHT  # noqa: E402

from patrol.core.net import free_port  # noqa: E402

JOURNEY = LIGHT  # throughput.py's 4-step login journey, on the demo bank this benchmark starts


class Bench:
    def __init__(self, work: Path, bank_url: str, journeys: int, env: dict[str, str],
                 pg: PgServer, redis: RedisServer) -> None:
        self.work, self.bank_url, self.count, self.env, self.pg, self.redis = work, bank_url, journeys, env, pg, redis
        self.browser_ws: str | None = None
        self.waits: dict[str, list[float]] = {}
        self.rounds = 0

    def project(self, name: str, *, connect: str | None = None) -> tuple[Path, str]:
        self.rounds += 1
        folder = self.work / f"{self.rounds:02d}-{name.replace(' ', '-').replace(',', '')}"
        (folder / "journeys").mkdir(parents=True)
        for i in range(self.count):
            (folder / "journeys" / f"login{i:02d}.yaml").write_text(
                JOURNEY.format(name=f"login{i:02d}", url=self.bank_url), encoding="utf-8")
        url = self.pg.new_database()
        browser = f"browser: {{connect: '{connect}'}}\n" if connect else ""
        (folder / "patrol.yaml").write_text(
            f"state: {{url: '{url}'}}\nfleet: {{broker: '{self.redis.new_database()}', queues: [web]}}\n"
            f"incidents: {{confirm: 0}}\nconcurrency: 2\nschedules:\n  bench: {{cron: '0 2 * * *'}}\n{browser}",
            encoding="utf-8")
        return folder, url

    def single(self) -> float:
        folder, _ = self.project("single")
        # Without the fleet section: the single-machine mode, on the same PostgreSQL.
        text_ = (folder / "patrol.yaml").read_text(encoding="utf-8").splitlines()
        (folder / "patrol.yaml").write_text("\n".join(ln for ln in text_ if not ln.startswith("fleet:")) + "\n",
                                            encoding="utf-8")
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "patrol", "run", "journeys", "--concurrency", "2"],
                              cwd=folder, env=self.env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"patrol run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return took

    def fleet(self, name: str, workers: int, concurrency: int, connect: str | None = None) -> float:
        folder, url = self.project(name, connect=connect)
        procs = [self._worker(folder, f"w{i}", concurrency) for i in range(workers)]
        try:
            took, waits = self._send_and_wait(folder, url)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.waits.setdefault(name, []).extend(waits)
        return took

    def _worker(self, folder: Path, name: str, concurrency: int) -> subprocess.Popen[str]:
        log = open(folder / f"{name}.log", "w", encoding="utf-8")  # closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "patrol", "worker", "--concurrency", str(concurrency),
                                 "--name", f"{name}@bench"], cwd=folder, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while "patrol worker" not in (folder / f"{name}.log").read_text(encoding="utf-8"):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the worker did not start:\n{(folder / f'{name}.log').read_text(encoding='utf-8')}")
            time.sleep(0.1)
        time.sleep(1.0)  # connected to the broker and listening
        return proc

    def _send_and_wait(self, folder: Path, url: str) -> tuple[float, list[float]]:
        from patrol import plugins
        from patrol.config import load_config
        from patrol.fleet.dispatch import FleetDispatch
        from patrol.schedule.plan import build_plan
        from patrol.store import open_store

        plugins.load()  # the actions and checks journeys are parsed with
        plan = build_plan(load_config(str(folder / "patrol.yaml")))
        spec, journeys = plan.lookup("schedule:bench")
        assert spec is not None and len(journeys) == self.count
        store = open_store(url)
        engine = create_engine(url)
        try:
            dispatch = FleetDispatch(plan.config, store)
            t0 = time.perf_counter()
            sent = dispatch.dispatch(spec, journeys, datetime.now(UTC).replace(microsecond=0))
            self.dispatch_ms = (time.perf_counter() - t0) * 1000 / self.count
            assert len(sent.sent) == self.count, sent
            while True:
                with engine.connect() as conn:
                    left = conn.execute(text("SELECT count(*) FROM fleet_firings WHERE state <> 'finished'")).scalar()
                if left == 0:
                    break
                if time.perf_counter() - t0 > 900:
                    sys.exit(f"{left} firings not finished after 15 minutes: see {folder}")
                time.sleep(0.2)
            took = time.perf_counter() - t0
            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT f.enqueued_at, min(a.started_at) FROM fleet_firings f JOIN fleet_attempts a "
                    "ON a.firing_key = f.key GROUP BY f.key, f.enqueued_at")).all()
                failed = conn.execute(text("SELECT count(*) FROM runs WHERE status <> 'passed'")).scalar()
            if failed:
                sys.exit(f"{failed} runs did not pass: see {folder}")
            dispatch.close()
        finally:
            store.close()
            engine.dispose()
        return took, [(b - a).total_seconds() for a, b in rows]


def start_browser_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "patrol.browser_server", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"ws://127.0.0.1:{port}/"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    sys.exit("the browser server did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def alternate(cases: dict[str, Callable[[], float]], runs: int) -> dict[str, list[float]]:
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(runs):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            times[name].append(cases[name]())
        print(f"round {i + 1}/{runs}: " + ", ".join(f"{n} {times[n][-1]:.1f}s" for n in names), flush=True)
    return times


def report(bench: Bench, times: dict[str, list[float]], runs: int) -> None:
    n = bench.count
    single = statistics.median(times["single"])
    print(f"\n{n} journeys (4-step login, demo bank), {runs} runs each, alternating; total concurrency 2 everywhere")
    print(f"{'':28}{'median':>9}{'jobs/min':>10}{'wait p50':>10}{'wait p95':>10}{'overhead/task':>15}")
    for name, t in times.items():
        med = statistics.median(t)
        waits = bench.waits.get(name)
        p50 = f"{percentile(waits, 50):>9.1f}s" if waits else f"{'-':>10}"
        p95 = f"{percentile(waits, 95):>9.1f}s" if waits else f"{'-':>10}"
        over = f"{(med - single) / n * 1000:>+13.0f}ms" if name != "single" else f"{'-':>15}"
        print(f"{name:28}{med:>8.1f}s{n / med * 60:>10.1f}{p50}{p95}{over}")
    print(f"sending one firing (the leader's side, FleetDispatch): {bench.dispatch_ms:.1f} ms")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ({os.cpu_count()} CPUs)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--journeys", type=int, default=40)
    ap.add_argument("--no-remote", action="store_true", help="skip the remote browser server case")
    ap.add_argument("--keep", metavar="DIR", help="keep every round's folder here")
    args = ap.parse_args()
    os.environ.setdefault("DEMO_PASSWORD", "patrol-demo-2026")  # the journeys are parsed here too (to send them)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PATROL_OCR_CACHE", None)  # no shared cache from the caller's shell
    bin_dir = pg_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    pg = PgServer(bin_dir).start()
    redis = RedisServer("/usr/bin/redis-server").start()
    bank, url = start_bank(env)
    browser = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.keep).resolve() if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            bench = Bench(work, url, args.journeys, env, pg, redis)
            cases: dict[str, Callable[[], float]] = {
                "single": bench.single,
                "1 worker": lambda: bench.fleet("1 worker", 1, 2),
                "2 workers": lambda: bench.fleet("2 workers", 2, 1),
            }
            if not args.no_remote:
                browser, ws = start_browser_server(env)
                cases["2 workers, remote browser"] = lambda: bench.fleet("2 workers, remote browser", 2, 1, connect=ws)
            print(f"load average at the start: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
            report(bench, alternate(cases, args.runs), args.runs)
    finally:
        for proc in (bank, browser):
            if proc is not None:
                proc.terminate()
                proc.wait(20)
        redis.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
