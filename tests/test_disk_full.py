"""A reports folder on a small filesystem that fills up during the run: the robot's own failure, named
(reports_unavailable, the folder and its free space, exit 3), never an internal error; the run still
reaches the state database, and never as passed. Also ``retention: {min_free: …}`` making room first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from schedule_support import LOGIN_STEPS, rows, write_journey

from patrol.config import load_config
from patrol.retention.prune import make_room
from patrol.retention.settings import RETENTION

MORE_STEPS = "".join(f"""\
  - name: page {i}
    goto: {page}
    expect: {{visible: "main"}}
""" for i, page in enumerate(["/home", "/accounts", "/transfer", "/funds", "/home", "/accounts", "/transfer",
                              "/funds", "/home", "/accounts"] * 2))


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs for the reports: CI runs as root; elsewhere the test says why it cannot run."""
    mount = tmp_path / "reports"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _patrol(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "patrol", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_disk_that_fills_during_the_run_is_the_robots_failure_named_and_the_run_is_recorded(bank, tmp_path, small_disk):
    write_journey(tmp_path / "journeys", "login", base_url=bank.url, steps=LOGIN_STEPS + MORE_STEPS)
    (tmp_path / "patrol.yaml").write_text("state: {url: 'sqlite:///state.db'}\nreports: reports\n", encoding="utf-8")
    done = _patrol(tmp_path, "run", "journeys/login.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "Traceback" not in out and "internal error" not in out and "a bug in Patrol" not in out, out
    assert "reports_unavailable" in out or "disk full" in out, out
    assert str(small_disk) in out and "free" in out, out
    assert "passed" not in out.split("disk full")[-1], out
    runs = rows(tmp_path / "state.db", "SELECT id, status FROM runs")
    assert len(runs) == 1 and runs[0][1] != "passed", (runs, out)
    journeys = rows(tmp_path / "state.db", "SELECT journey, status FROM journey_runs")
    assert journeys and all(status == "error" for _, status in journeys), (journeys, out)


def test_retention_min_free_makes_room_before_a_run(tmp_path, small_disk):
    for i in range(4):  # old runs of 120 KB each fill 480 of the 600 KB
        run = small_disk / f"2026010{i + 1}-030000-abc{i}"
        run.mkdir()
        (run / "report.json").write_text(f'{{"started_at": "2026-01-0{i + 1}T03:00:00Z"}}', encoding="utf-8")
        (run / "shot.png").write_bytes(os.urandom(120 * 1024))
    (tmp_path / "patrol.yaml").write_text("state: false\nreports: reports\nretention: {min_free: 300KB}\n",
                                          encoding="utf-8")
    config = load_config(str(tmp_path / "patrol.yaml"))
    assert config.settings[RETENTION].min_free == 300 * 1024
    stats = make_room(config.settings[RETENTION], small_disk, None)
    left = sorted(p.name for p in small_disk.iterdir())
    assert stats.reports == 2 and left == ["20260103-030000-abc2", "20260104-030000-abc3"], (stats, left)  # oldest first
    assert os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize >= 300 * 1024


def test_a_read_only_reports_disk_is_named_before_anything_runs(bank, tmp_path, small_disk):
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only here: {remount.stderr.strip()}")
    write_journey(tmp_path / "journeys", "login", base_url=bank.url)
    (tmp_path / "patrol.yaml").write_text("state: {url: 'sqlite:///state.db'}\nreports: reports\n", encoding="utf-8")
    done = _patrol(tmp_path, "run", "journeys/login.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    assert "reports_unavailable" in out and "read-only filesystem" in out and str(small_disk) in out, out
    assert "Traceback" not in out and "internal error" not in out, out
