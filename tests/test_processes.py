"""No Patrol process outlives its parent: every Patrol command that starts children
(the Appium server, the demo bank, Chromium, the scheduler's helper servers) is
started for real, given SIGTERM, SIGINT or SIGHUP, and afterwards none of the
processes below it is left and its port is free.

The descendants are read from /proc *before* the signal: once the parent is gone an
orphan is re-parented and could no longer be found by walking down from it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT

from patrol.core.net import free_port

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# One journey for every browser case: it opens the bank and then waits (long) for an
# element that never comes, so Chromium is surely running when the signal arrives.
SLOW_JOURNEY = """\
name: waits
base_url: {base_url}
detectors: {{forbidden_text: false, broken_image: false, blank_screen: false}}
budgets: {{step: 120s, timeout: 120s, journey: 300s}}
steps:
  - name: open login
    goto: /login
  - name: wait forever
    wait_for: "#never-there"
"""
GONE_WITHIN_S = 20.0


# -- processes, read from /proc ----------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_bytes().decode("utf-8", "replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[19])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def descendants(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (start time, command line) of every process below ``root``."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parent[int(entry)] = st[1]
    found: dict[int, tuple[int, str]] = {}
    frontier = {root}
    while frontier:
        children = {pid for pid, ppid in parent.items() if ppid in frontier and pid not in found}
        for pid in children:
            st = _stat(pid)
            if st is not None:
                found[pid] = (st[2], _cmdline(pid))
        frontier = children
    return found


def still_running(procs: dict[int, tuple[int, str]]) -> dict[int, str]:
    """Those of ``procs`` alive now: the same pid *and* start time (pids are reused); a
    zombie has stopped (only its exit status waits for a reaper)."""
    alive = {}
    for pid, (started, cmd) in procs.items():
        st = _stat(pid)
        if st is not None and st[2] == started and st[0] != "Z":
            alive[pid] = cmd
    return alive


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            return True
    return False




def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Started:
    """A Patrol command in its own process group (so nothing a test does reaches the
    rest of the machine, and so a failing test can still clean up)."""

    proc: subprocess.Popen[str]
    log: Path
    ports: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait(self, ready: Callable[[Started], bool], what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited ({self.proc.returncode}) before {what}:\n{self.text}")
            if ready(self):
                return
            time.sleep(0.2)
        raise AssertionError(f"not {what} within {timeout:.0f}s:\n{self.text}")

    def cleanup(self, tree: dict[int, tuple[int, str]]) -> None:
        for pid in still_running(tree):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _hangup_as_a_terminal_would() -> None:
    # A suite started under nohup, or as a background job of a script, hands its children
    # an ignored SIGHUP or SIGINT (what nohup and the shell mean, which Patrol keeps); the
    # commands here are started as from a terminal.
    for sig in STOP:
        signal.signal(sig, signal.SIG_DFL)


def start(tmp_path: Path, *args: str) -> Started:
    log = tmp_path / "out.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True, preexec_fn=_hangup_as_a_terminal_would)
    return Started(proc, log)


def has_chromium(s: Started) -> bool:
    return any("chrom" in cmd.lower() for _start, cmd in descendants(s.proc.pid).values())


def url_in_output(pattern: str) -> Callable[[Started], bool]:
    def ready(s: Started) -> bool:
        m = re.search(pattern, s.text)
        if m is None or not answers(m.group(1) + "/login"):
            return False
        s.ports[:] = [int(m.group(2))]
        return True

    return ready


# -- one case per Patrol command that starts children -----------------------------------------
def appium_serve(tmp_path: Path, _bank_url: str) -> Started:
    from patrol.appium_server import installed

    if not installed():
        pytest.skip("Appium is not installed: run `make appium`")
    port = free_port()
    s = start(tmp_path, "-m", "patrol.appium_server", "serve", "--port", str(port))
    s.ports.append(port)
    s.wait(lambda _s: answers(f"http://127.0.0.1:{port}/status"), "answering /status")
    return s


def demo_serve(tmp_path: Path, _bank_url: str) -> Started:
    s = start(tmp_path, "-m", "patrol", "demo", "serve", "--port", str(free_port()))
    s.wait(url_in_output(r"(http://127\.0\.0\.1:(\d+))"), "serving")
    return s


def demo_patrol(tmp_path: Path, _bank_url: str) -> Started:
    journey = _journey(tmp_path, "http://127.0.0.1:9")
    s = start(tmp_path, "-m", "patrol", "--config", str(_config(tmp_path)), "demo", "patrol", str(journey),
              "--output", str(tmp_path / "run"))
    s.wait(url_in_output(r"demo bank at (http://127\.0\.0\.1:(\d+))"), "serving the bank")
    s.wait(has_chromium, "running Chromium")
    return s


def patrol_run(tmp_path: Path, bank_url: str) -> Started:
    journey = _journey(tmp_path, bank_url)
    s = start(tmp_path, "-m", "patrol", "--config", str(_config(tmp_path)), "run", str(journey),
              "--output", str(tmp_path / "run"))
    s.wait(has_chromium, "running Chromium")
    return s


def patrol_schedule(tmp_path: Path, bank_url: str) -> Started:
    _journey(tmp_path / "journeys", bank_url)
    (tmp_path / "patrol.yaml").write_text("state: {url: 'sqlite:///state.db'}\n"
                                          "schedules:\n  often: {every: 1s}\n", encoding="utf-8")
    port = free_port()
    s = start(tmp_path, "-m", "patrol", "schedule", "--no-watch", "--metrics-port", str(port),
              "--metrics-addr", "127.0.0.1", "--stop-timeout", "1s")
    s.ports.append(port)
    s.wait(lambda _s: answers(f"http://127.0.0.1:{port}/metrics") and has_chromium(_s), "firing with Chromium")
    return s


def _journey(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "waits.yaml"
    path.write_text(SLOW_JOURNEY.format(base_url=base_url), encoding="utf-8")
    return path


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "quiet.yaml"
    path.write_text("state: false\n", encoding="utf-8")
    return path


STOP = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
CASES = [(starter, sig) for starter in (appium_serve, demo_serve, demo_patrol, patrol_run) for sig in STOP]
# `patrol schedule` reloads on SIGHUP (its documented meaning), so only TERM and INT stop it.
CASES += [(patrol_schedule, sig) for sig in (signal.SIGTERM, signal.SIGINT)]


@pytest.mark.parametrize(("starter", "sig"), CASES, ids=[f"{f.__name__}-{s.name}" for f, s in CASES])
def test_a_signal_stops_every_descendant_and_frees_the_port(starter, sig, bank, tmp_path):
    s = starter(tmp_path, bank.url)
    tree = descendants(s.proc.pid)
    try:
        # The demo bank serves from threads of its own process (nothing to leak but its port).
        assert bool(tree) == (starter is not demo_serve), f"{starter.__name__} started {tree}:\n{s.text}"
        s.proc.send_signal(sig)
        try:
            s.proc.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 60s after {sig.name}:\n{s.text}") from None
        tree.update({pid: v for pid, v in descendants(s.proc.pid).items() if pid not in tree})
        deadline = time.monotonic() + GONE_WITHIN_S
        while still_running(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = still_running(tree)
        assert not left, f"left running after {sig.name} to {starter.__name__}: {left}\n{s.text}"
        for port in s.ports:
            assert port_free(port), f"port {port} still answers after {sig.name}"
    finally:
        s.cleanup(tree)


def test_appium_server_dies_with_a_sigkilled_parent(tmp_path):
    """SIGKILL cannot be handled: the server learns of it from the kernel (PR_SET_PDEATHSIG)."""
    s = appium_serve(tmp_path, "")
    tree = descendants(s.proc.pid)
    try:
        s.proc.kill()
        s.proc.wait(10)
        deadline = time.monotonic() + GONE_WITHIN_S
        while still_running(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not still_running(tree)
        assert port_free(s.ports[0])
    finally:
        s.cleanup(tree)


def test_the_tree_reader_sees_grandchildren(tmp_path):
    """The test's own instrument: a grandchild in another session is still found."""
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], " \
             "start_new_session=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.monotonic() + 10
        while len(descendants(proc.pid)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = descendants(proc.pid)
        assert len(tree) == 1 and still_running(tree)
    finally:
        for pid in descendants(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
