"""Concurrent journeys in one Chromium: isolation between browser contexts, a killed
Chromium recovered, CPU work off the event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from datetime import datetime

import pytest
from schedule_support import OPEN_STEPS, write_journey

from patrol.config import Config
from patrol.journey import load_all
from patrol.runner import Listener, Runner, RunOptions

# Not logged in: /home must send this browser context to the login page. If cookies
# leaked from a context that did log in, it would land on /home instead.
ANONYMOUS_STEPS = """\
  - name: open login
    goto: /login
    expect: {visible: "#login-form"}
  - name: try home
    goto: /home
    expect: {url: "/login*", visible: "#login-form"}
  - name: try home again
    goto: /home
    expect: {url: "/login*", visible: "#login-form"}
"""


def _spans(report: dict) -> list[tuple[str, float, float]]:
    out = []
    for j in report["journeys"]:
        start = datetime.fromisoformat(j["started_at"]).timestamp()
        out.append((j["name"], start, start + j["duration_ms"] / 1000))
    return out


def _peak(spans, slack: float = 0.02) -> int:
    """Most journeys running at the same moment. Start times are wall-clock milliseconds
    and durations monotonic: a journey that started as another ended may seem to
    overlap it by a millisecond, so ends count ``slack`` seconds early."""
    events = sorted([(s, 1) for _, s, _ in spans] + [(e - slack, -1) for _, _, e in spans], key=lambda x: (x[0], x[1]))
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


def test_eight_journeys_four_at_once_in_isolated_contexts(bank, patrol, tmp_path):
    folder = tmp_path / "journeys"
    paths = []
    for i in range(4):
        paths.append(write_journey(folder, f"login-{i}", base_url=bank.url))
        paths.append(write_journey(folder, f"anonymous-{i}", base_url=bank.url, steps=ANONYMOUS_STEPS))
    p = patrol("run", *map(str, paths), "--concurrency", "4")
    assert p.code == 0, p.out + p.err
    statuses = {j["name"]: j["status"] for j in p.report["journeys"]}
    assert statuses == {**{f"login-{i}": "passed" for i in range(4)}, **{f"anonymous-{i}": "passed" for i in range(4)}}, p.out
    assert _peak(_spans(p.report)) == 4, "four journeys ran at once, never more"


def test_concurrency_from_patrol_yaml(bank, patrol, tmp_path):
    folder = tmp_path / "journeys"
    paths = [write_journey(folder, f"j{i}", base_url=bank.url, steps=OPEN_STEPS) for i in range(3)]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("state: false\nconcurrency: 3\n", encoding="utf-8")
    p = patrol("--config", str(cfg), "run", *map(str, paths))
    assert p.code == 0, p.out + p.err
    assert _peak(_spans(p.report)) == 3


# A hanging journey cut off with a screenshot without holding up the others is an
# orchestration rule: tests/test_orchestration.py proves it on the fake driver.


class _KillChromium(Listener):
    """Kills Chromium (SIGKILL) while `victim` is between steps 2 and 3."""

    def __init__(self):
        self.runner: Runner | None = None
        self.killed: int | None = None

    def step_finished(self, journey, result, step):
        if journey.name == "victim" and step.index == 2 and self.killed is None:
            self.killed = self.runner.engines.engines["web"].pid()
            os.kill(self.killed, signal.SIGKILL)


def test_a_killed_chromium_is_a_robot_error_and_the_next_journeys_run(bank, tmp_path):
    folder = tmp_path / "journeys"
    paths = [write_journey(folder, "victim", base_url=bank.url), write_journey(folder, "neighbour", base_url=bank.url)]
    paths += [write_journey(folder, f"later-{i}", base_url=bank.url) for i in range(2)]
    killer = _KillChromium()
    runner = Runner(Config(), RunOptions(output=tmp_path / "run", concurrency=2), [killer])
    killer.runner = runner
    run = asyncio.run(runner.run(load_all([str(p) for p in paths])))
    assert killer.killed, "Chromium's pid was known"
    by = {j.name: j for j in run.journeys}
    victim = by["victim"]
    assert victim.status == "error" and victim.robot_error["reason"] == "browser_crashed", victim
    assert not victim.findings, "a crash is never a finding about the app"
    assert [s.status for s in victim.steps] == ["passed", "passed", "error", "skipped"]
    assert by["neighbour"].status in ("error", "passed")  # it shared the browser: it may have been hit too
    assert not by["neighbour"].findings
    for i in range(2):
        assert by[f"later-{i}"].status == "passed", "the browser was restarted and the next journeys ran"
    assert run.status == "error"


def test_cpu_heavy_checks_run_off_the_event_loop(bank, tmp_path, monkeypatch):
    """Image comparison, blank-screen analysis and redaction painting never run on
    the loop that drives the browsers."""
    import numpy as np

    from patrol.checks import blank_screen as blank_mod
    from patrol.core.png import encode_png
    from patrol.runner import redaction
    from patrol.visual import compare as cmp

    seen: dict[str, list[int]] = {"compare": [], "blank": [], "paint": []}

    def spy(name, fn):
        def wrapper(*a, **k):
            seen[name].append(threading.get_ident())
            return fn(*a, **k)
        return wrapper

    monkeypatch.setattr(cmp, "compare", spy("compare", cmp.compare))
    monkeypatch.setattr(blank_mod, "blank_share", spy("blank", blank_mod.blank_share))
    monkeypatch.setattr(redaction, "paint", spy("paint", redaction.paint))
    baselines = tmp_path / "baselines"
    (baselines / "eyes").mkdir(parents=True)
    (baselines / "eyes" / "login.desktop.png").write_bytes(encode_png(np.full((800, 1280, 4), 255, np.uint8)))
    path = write_journey(tmp_path / "journeys", "eyes", base_url=bank.url, steps="""\
  - name: open login
    goto: /login
    expect: {visible: "#login-form", visual: login}
""", extra='redact: ["#username"]\n')
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(f"visual: {{baselines: {baselines}, settle_timeout: 3s}}\n", encoding="utf-8")
    from patrol.config import load_config

    loop_thread: list[int] = []

    class Where(Listener):
        def journey_started(self, journey, result):
            loop_thread.append(threading.get_ident())

    runner = Runner(load_config(str(cfg)), RunOptions(output=tmp_path / "run"), [Where()])
    run = asyncio.run(runner.run(load_all([str(path)])))
    assert [f.reason for f in run.journeys[0].findings] == ["visual_diff"]  # it did compare (white is not the page)
    assert seen["compare"] and seen["blank"] and seen["paint"]
    for name, threads in seen.items():
        assert loop_thread[0] not in threads, f"{name} ran on the event loop"


@pytest.mark.parametrize("n", [0])
def test_concurrency_must_be_positive(patrol, tmp_path, n):
    p = patrol("run", "nothing.yaml", "--concurrency", str(n))
    assert p.code == 2 and "--concurrency must be 1 or more" in p.err
