"""The robot's own CPU starvation (patrol/step/cpu_wait.py) on this machine's real
scheduler counters, and what the budget check makes of it (orchestration, with the
measurement stubbed: the fake driver takes no CPU to starve)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from test_orchestration import Harness, bank, found, journey_file

from patrol.drivers.fake import FakeApp, Reaction
from patrol.runner import runner as runner_module
from patrol.step.cpu_wait import CpuWait

BUSY = "import time\nend = time.monotonic() + 1.2\nwhile time.monotonic() < end: pass\n"


def test_processes_of_the_robot_competing_for_the_cpus_are_counted_as_waiting():
    wait = CpuWait()
    wait.begin()
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(2 * (os.cpu_count() or 1) + 1)]
    try:
        time.sleep(1.0)  # measured while they still run: a process that ended is gone from the tree
        waited = wait.stop()
    finally:
        for p in busy:
            p.wait(30)
    # More runnable processes than cores: each waits more than half the time.
    assert waited is not None and waited >= 300, waited


def test_a_robot_that_sleeps_does_not_wait_for_a_cpu():
    """Waiting for the app (asleep, not runnable) is never the robot's starvation."""
    wait = CpuWait()
    wait.begin()
    time.sleep(0.5)
    waited = wait.stop()
    assert waited is not None and waited < 150, waited


class _Waited:
    ms = 0.0

    def begin(self) -> None:
        pass

    def stop(self) -> float:
        return self.ms


@contextlib.contextmanager
def appearing(app: FakeApp, path: str, selector: str, *, after_s: float) -> Iterator[None]:
    """``selector`` is taken off ``path``'s screen and put back ``after_s`` seconds later."""
    element = app.screen(path).elements.pop(selector)
    later = threading.Timer(after_s, lambda: app.screen(path).elements.__setitem__(selector, element))
    later.start()
    try:
        yield
    finally:
        later.cancel()


@pytest.mark.parametrize("starved_ms, stall", [(1000.0, False), (40.0, True)])
def test_time_over_budget_the_robot_spent_waiting_for_a_cpu_is_not_a_stall_of_the_app(tmp_path, monkeypatch,
                                                                                      starved_ms, stall):
    _Waited.ms = starved_ms
    monkeypatch.setattr(runner_module, "CpuWait", _Waited)
    h = Harness(tmp_path, bank(**{"/login|click #submit": Reaction(go="/home", delay_s=0.3)}))
    j = h.run(journey_file(tmp_path / "j", "login", step="150ms", timeout="2s")).journeys[0]
    sign_in = j.steps[2]
    if stall:
        assert found(j) == [("sign in", "stall", "over_budget")]
        assert sign_in.findings[0].evidence["robot_cpu_wait_ms"] == starved_ms  # said, so on-call can weigh it
    else:
        assert found(j) == [] and sign_in.status == "passed"
        assert any("waited 1.00s for a CPU" in n and "not counted as a stall" in n for n in sign_in.notes), sign_in.notes
        assert sign_in.artifacts["robot_starved"]["robot_cpu_wait_ms"] == starved_ms


@pytest.mark.parametrize("starved_ms, holds", [(5000.0, True), (0.0, False)])
def test_the_hard_timeout_is_the_apps_time_the_robots_own_cpu_wait_is_added(tmp_path, monkeypatch, starved_ms, holds):
    """What the step expects appears 2.2 s in; the hard timeout is 1.5 s. A robot that
    waited for a CPU meanwhile gets up to one more hard timeout and sees it; one that
    did not wait breaks at the timeout, as before."""
    _Waited.ms = starved_ms
    monkeypatch.setattr(runner_module, "CpuWait", _Waited)
    app = bank()
    with appearing(app, "/home", "#total", after_s=2.2):
        h = Harness(tmp_path, app)
        j = h.run(journey_file(tmp_path / "j", "login", step="1500ms", timeout="1500ms")).journeys[0]
    if holds:
        assert found(j) == [] and j.status == "passed", found(j)
    else:
        assert found(j) == [("sign in", "breakpoint", "expect_failed")]


@pytest.mark.parametrize("starved_ms, clicks", [(5000.0, True), (0.0, False)])
def test_an_action_that_timed_out_while_the_robot_waited_for_a_cpu_is_done_again(tmp_path, monkeypatch,
                                                                                  starved_ms, clicks):
    """The button appears 2.2 s in; the hard timeout is 1.5 s and the driver waits for
    elements as a real one does. A robot that waited for a CPU meanwhile clicks it on a
    second try (up to one more timeout) and says so; one that did not is a breakpoint."""
    _Waited.ms = starved_ms
    monkeypatch.setattr(runner_module, "CpuWait", _Waited)
    app = bank()
    with appearing(app, "/home", "#cards", after_s=2.2):
        h = Harness(tmp_path, app, waits_for_elements=True)
        j = h.run(journey_file(tmp_path / "j", "login", step="1500ms", timeout="1500ms")).journeys[0]
    open_cards = j.steps[3]
    if clicks:
        assert found(j) == [] and j.status == "passed", found(j)
        assert any("needed up to 1.50s more than its timeout" in n and "waited 5.00s for a CPU" in n
                   for n in open_cards.notes), open_cards.notes
    else:
        assert found(j) == [("open cards", "breakpoint", "action_timeout")], found(j)
        assert app.calls.count("click #cards") == 1  # not tried again
