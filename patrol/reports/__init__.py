"""Report writers: they read a finished ``RunResult`` and write files. Every byte
they write goes through the secret masker; every piece of app text is escaped by the
format's own escaping (Jinja2 autoescape, XML escaping, JSON encoding).

To add a format: one module with ``write(run, run_dir)`` and its name in ``WRITERS``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..results import RunResult

WRITERS = ("json_report", "html_report", "junit")


TEMPLATES = ("run.html.j2", "index.html.j2")


def warm_up() -> None:
    """Load the writers and compile their templates ahead of the first report (in a
    thread while the browser starts, so the end of a run does not wait for it)."""
    for name in (*WRITERS, "index"):
        importlib.import_module(f"{__name__}.{name}")
    from .html_report import environment

    for template in TEMPLATES:
        environment().get_template(template)


def write_all(run: RunResult, run_dir: Path) -> None:
    for name in WRITERS:
        importlib.import_module(f"{__name__}.{name}").write(run, Path(run_dir))
