"""Shared fixtures: a real demo bank on a free port, and a way to run `patrol` the
way a person does (the real CLI, real Chromium) and read back what it wrote."""

from __future__ import annotations

import json
import os
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import patrol.plugins  # the composition root: tests parse journeys like the CLI does

ROOT = Path(__file__).resolve().parents[1]
JOURNEYS = ROOT / "journeys"


def copy_flows(folder: Path) -> None:
    """The shipped flows beside a journey copied into ``folder`` (its includes resolve there)."""
    import shutil

    if not (folder / "flows").exists():
        shutil.copytree(JOURNEYS / "flows", folder / "flows")


def in_threads(work: Callable[[], None], count: int) -> list[BaseException]:
    """``work`` run in ``count`` threads at once; what any of them raised (for races)."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # pragma: no cover - the caller reports it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def config_with_copied_baselines(folder: Path, extra: str = "") -> Path:
    """The shipped patrol.yaml written into ``folder``, ``extra`` appended, its baselines a copy
    of the committed ones in ``folder`` (so no test can change the real ones)."""
    import shutil

    shutil.copytree(ROOT / "baselines", folder / "baselines")
    text = (ROOT / "patrol.yaml").read_text(encoding="utf-8").replace("baselines: baselines",
                                                                      f"baselines: {folder / 'baselines'}")
    cfg = folder / "patrol.yaml"
    cfg.write_text(text + extra, encoding="utf-8")
    return cfg
# A password nobody could guess, so a test can grep every output for it. The bank
# reads it at start, the journeys through ${secret:DEMO_PASSWORD}.
SECRET = "pw-" + _random.token_hex(8)
os.environ["DEMO_PASSWORD"] = SECRET
# One OCR cache for the whole session (every worker, every patrol process the tests start):
# entries are keyed by pixels, engine and settings, so sharing changes no reading, only
# how often the same login screen is read again. Tests of the cache itself use their own.
os.environ.setdefault("PATROL_OCR_CACHE", str(Path(os.environ.get("TMPDIR", "/tmp")) /
                                              f"patrol-test-ocr-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"))


@dataclass
class Patrol:
    code: int
    out: str
    err: str
    report: dict | None
    run_dir: Path

    def journey(self, name: str, attempt: int | None = None) -> dict:
        matches = [j for j in self.report["journeys"] if j["name"] == name]
        assert matches, f"no journey {name} in report"
        return matches[-1] if attempt is None else next(j for j in matches if j["attempt"] == attempt)

    def findings(self, name: str) -> list[tuple[str, str, str]]:
        """(step name, kind, reason) of every finding of a journey."""
        return [(s["name"], f["kind"], f["reason"]) for s in self.journey(name)["steps"] for f in s["findings"]]


@pytest.fixture(scope="session")
def bank():
    from patrol.demo.server import DemoBank

    with DemoBank(port=0) as b:
        yield b


@pytest.fixture
def faulty_bank(request):
    """A bank of the test's own, with the faults given by @pytest.mark.faults(...)."""
    from patrol.demo.server import DemoBank

    marker = request.node.get_closest_marker("faults")
    faults = list(marker.args) if marker else []
    with DemoBank(port=0, faults=faults) as b:
        yield b


@pytest.fixture
def patrol(tmp_path, capsys, monkeypatch):
    """Run the real CLI in-process; returns a Patrol with exit code, output and report."""
    from patrol.cli import main

    monkeypatch.chdir(tmp_path)  # baselines/ and .patrol/ of the test's own

    quiet = tmp_path / "no-incidents.yaml"
    # Tests of findings need no incident confirmation reruns; incident tests bring their own config.
    quiet.write_text("state: false\n", encoding="utf-8")

    def run(*args: str, output: Path | None = None) -> Patrol:
        run_dir = output or tmp_path / f"run-{_random.token_hex(3)}"
        argv = [a for a in args]
        if "--config" not in argv:
            argv = ["--config", str(quiet)] + argv
        if "run" in argv and "--output" not in argv:
            argv += ["--output", str(run_dir)]
        code = main(argv)
        cap = capsys.readouterr()
        report_file = run_dir / "report.json"
        report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else None
        return Patrol(code, cap.out, cap.err, report, run_dir)

    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "faults(*specs): faults the faulty_bank fixture starts with")
    config.addinivalue_line("markers", "e2e: needs a browser, a server (the demo bank, PostgreSQL, Redis, Appium, "
                            "Alertmanager) or a real app; `make check` leaves these out")


# `make check` runs the tests that need none of Chromium, a server or a real app
# (`-m "not e2e"`). A test is e2e when it asks for one of these fixtures, runs on
# PostgreSQL (a "postgresql" parameter), is in one of these files (the console's files
# all serve it over HTTP), is named below, or says so itself with @pytest.mark.e2e.
E2E_FIXTURES = {
    "bank", "faulty_bank", "patrol",  # the demo bank, and the CLI run against it in Chromium
    "browser", "world", "site", "client", "anon", "server", "toast_shot", "main_shot", "misread_shot",
    "pg_server", "postgres_url", "redis_server", "redis_url", "procs", "alertmanager", "appium_status",
}
E2E_FILE_PREFIXES = ("test_appium_", "test_fleet", "test_console", "test_real_apps")
E2E_FILES = {"test_remote_browser.py", "test_recorder.py", "test_processes.py"}  # Chromium or Appium throughout
E2E_TESTS = {"test_with_a_browser_server_the_doctor_asks_it_instead_of_this_machines_chromium",  # a browser server
             "test_module_cli_serves_and_stops_on_sigterm"}  # the demo bank as a process


def _is_e2e(item) -> bool:
    name = item.path.name
    if item.get_closest_marker("e2e") or name in E2E_FILES or name.startswith(E2E_FILE_PREFIXES):
        return True
    if getattr(item, "originalname", item.name) in E2E_TESTS:
        return True
    if E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(isinstance(v, str) and v == "postgresql" for v in callspec.params.values())


# Under pytest-xdist (`make test`), tests spread one by one over the workers, except
# files whose module- or session-scoped fixtures are costly to start twice: each
# such group runs on one worker (with --dist loadgroup).
XDIST_GROUPS = {
    "test_appium_bank.py": "appium", "test_appium_fake.py": "appium", "test_appium_robot.py": "appium",  # one Appium server
    "test_appium_dialogs.py": "appium", "test_appium_capture.py": "appium",  # ... and one patrol run for its tests
    "test_ocr.py": "ocr",  # rendered screens, read once
    "test_demo_bank.py": "demo_bank",
    "test_console.py": "console",  # one patrolled world (a module fixture) for all its tests
    # one patrol run (or several) in a module fixture that all their tests read
    "test_visual_levels.py": "visual_levels", "test_console_pages.py": "console_pages", "test_tracing.py": "tracing",
    "test_ocr_rapid.py": "ocr_rapid", "test_text_layout.py": "text_layout",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)
        group = XDIST_GROUPS.get(item.path.name)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    if getattr(config.option, "loadgroup", False):  # --dist loadgroup, on a worker
        _name_groups(items)


def _name_groups(items) -> None:
    """What pytest-xdist's loadgroup does on a worker: "@group" after the test's id, by which the
    controller sends a group's tests to one worker. xdist 3.8 writes it to ``item._nodeid``, which
    pytest 9 no longer reads (the id lives in ``item._id``), so without this no group held together:
    each worker started its own real apps, Redis/PostgreSQL and module fixtures."""
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest 8: xdist's own naming works
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        nodeid = item.nodeid
        if names and nodeid.rfind("@") <= nodeid.rfind("]"):  # not named yet (an xdist that does it itself)
            item._id = NodeId.parse(f"{nodeid}@{'_'.join(names)}")
