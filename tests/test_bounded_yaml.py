"""Bounded parsing: an alias bomb, a deeply nested file and an oversized one stop with the position and
the limit (exit 2) in well under a second and little memory, an anchor reused as people write them still
works, and the scheduler keeps patrolling the other journeys beside a hostile file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from schedule_support import OPEN_STEPS, ROOT, Service, config, rows, write_journey

from patrol import yamlpos
from patrol.journey.loader import JourneyError, load_journey


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs" shape: nine levels of nine aliases each, 9**9 strings when expanded."""
    lines = ["name: bomb", "base_url: http://127.0.0.1:9", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["steps:", "  - goto: /", f"    note: *l{levels}"]
    return "\n".join(lines) + "\n"


def deep(levels: int = 5000) -> str:
    return "name: deep\nbase_url: http://127.0.0.1:9\nsteps:\n  - goto: /\n    note: " + "[" * levels + "]" * levels + "\n"


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patrol", "validate", *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("text", "limit"), [
    (alias_bomb(), "aliases expand to more than 20,000 values"),
    (deep(), "nested too deeply: more than 64 levels"),
    ("a: &a [*a]\n", "nested too deeply through aliases"),  # a recursive anchor
])
def test_a_hostile_file_stops_with_its_position_quickly_and_in_little_memory(tmp_path, text, limit):
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(JourneyError) as caught:
        load_journey(path)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # a second time for the memory: tracing slows every allocation down
    try:
        with pytest.raises(JourneyError):
            load_journey(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Not a speed test (benchmarks measure speed): unbounded, these files take minutes to
    # hours and gigabytes, so even a loaded machine's worst stays far below this.
    assert elapsed < 15.0, f"took {elapsed:.2f}s"
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    problem = caught.value.problems[0]
    assert limit in problem.message, problem
    print(f"{limit}: {elapsed * 1000:.0f} ms, peak {peak / 1e6:.1f} MB")
    result = _validate(path)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"{path}:{problem.line}:{problem.column}:" in out and limit in out
    assert "Traceback" not in out


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("name: huge\nsteps: []\n" + "#" * (yamlpos.MAX_FILE_BYTES + 10) + "\n", encoding="utf-8")
    result = _validate(path)
    assert result.returncode == 2
    assert f"{path}:1:1:" in result.stdout + result.stderr and "file too large" in result.stdout + result.stderr


def test_anchors_reused_as_people_write_them_still_work(tmp_path):
    steps = "\n".join(f"  - name: s{i}\n    goto: /p{i}\n    expect: *seen" for i in range(1, 40))
    path = tmp_path / "reuse.yaml"
    path.write_text("name: reuse\nbase_url: http://127.0.0.1:9\nsteps:\n"
                    "  - name: s0\n    goto: /p0\n    expect: &seen {visible: '#main', text: 'Welcome'}\n"
                    f"{steps}\n", encoding="utf-8")
    assert len(load_journey(path).steps) == 40
    # An anchored list of 50 steps reused 20 times is far below the alias limit.
    flow = "".join(f"  - {{name: f{i}, goto: /f{i}}}\n" for i in range(50))
    located = yamlpos.load("base: &base\n" + flow + "uses: [" + ", ".join(["*base"] * 20) + "]\n", "x.yaml")
    assert len(located.data["uses"]) == 20 and len(located.data["uses"][19]) == 50


def test_merge_keys_share_settings_and_a_mapping_keeps_its_own_keys():
    text = "base: &base {timeout: 5s, retries: 2}\nweb:\n  <<: *base\n  retries: 3\nboth:\n  <<: [*base, {color: red}]\n"
    data = yamlpos.load(text, "x.yaml").data
    assert data["web"] == {"timeout": "5s", "retries": 3}
    assert data["both"] == {"timeout": "5s", "retries": 2, "color": "red"}
    with pytest.raises(yamlpos.YamlSyntaxError, match="merges a mapping"):
        yamlpos.load("a:\n  <<: [1, 2]\n", "x.yaml")


def test_the_scheduler_keeps_firing_the_other_journeys_when_an_alias_bomb_lands(bank, tmp_path):
    """A bad merge drops a bomb into the watched journeys folder while the scheduler runs: the reload is
    refused with the position, and the journeys it had go on firing."""
    folder = tmp_path / "journeys"
    write_journey(folder, "home", base_url=bank.url, steps=OPEN_STEPS)
    config(tmp_path, "state: {url: 'sqlite:///state.db'}\nschedules:\n  fast: {every: 1s, journeys: [journeys/]}\n")
    db = tmp_path / "state.db"
    svc = Service(tmp_path)
    try:
        svc.wait_for(r"\[fast\] run \S+ passed", timeout=120)
        (folder / "bomb.yaml").write_text(alias_bomb(), encoding="utf-8")
        svc.wait_for(r"refused", timeout=60)
        before = len(rows(db, "SELECT id FROM journey_runs WHERE journey = 'home' AND status = 'passed'"))
        svc.wait_for(r"\[fast\] run \S+ passed", count=before + 2, timeout=120)
        code = svc.stop(signal.SIGTERM)
    finally:
        svc.kill()
    out = svc.text
    assert code == 0, out
    assert "Traceback" not in out
    assert f"{folder / 'bomb.yaml'}:" in out.replace("\n", "") and "aliases expand to more than 20,000" in out, out
    assert len(rows(db, "SELECT id FROM journey_runs WHERE journey = 'home' AND status = 'passed'")) >= before + 2
