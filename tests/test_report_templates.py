"""Compiled report templates are kept in the user's cache: the same pages come out of
a cold cache, a warm one, a damaged one and none at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RENDER = """
from patrol.reports.html_report import render_run
from patrol.reports.json_report import to_dict
from patrol.results import JourneyResult, RunResult, StepResult
step = StepResult(1, "open <home>", "goto", url="http://x/?q=<script>")
run = RunResult("r1", "2026-01-01T00:00:00", journeys=[JourneyResult("j", "j.yaml", steps=[step])])
print(render_run(to_dict(run)))
"""


def render(cache_home: Path) -> str:
    """A whole process, as `patrol run` writes its report."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    return subprocess.run([sys.executable, "-c", RENDER], env=env, capture_output=True, text=True, check=True).stdout


def test_templates_compile_into_the_cache_and_a_damaged_cache_is_compiled_again(tmp_path):
    cold = render(tmp_path)
    cached = sorted((tmp_path / "patrol" / "templates").iterdir())
    assert len(cached) >= 1, "the compiled template was not kept"
    assert "open &lt;home&gt;" in cold and "open <home>" not in cold  # the app's text, escaped
    assert render(tmp_path) == cold  # warm: read back, the same page
    for f in cached:
        f.write_bytes(f.read_bytes()[:40])  # cut short: marshal cannot read it
    assert render(tmp_path) == cold
    assert all(f.stat().st_size > 40 for f in cached), "the damaged entries were not written again"


def test_a_cache_folder_that_cannot_be_made_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert render(blocker) == render(tmp_path / "fresh")  # <file>/patrol/templates cannot be made
