"""Two real open-source single-page apps, started on loopback for the test session:
JupyterLab (PyPI) and Node-RED (npm), installed into .realapps/ by `make real-apps`.

Each app runs from a throwaway data folder on a free port, behind its own
FaultProxy; journeys reach it through the proxy's URL (${JUPYTER_URL},
${NODE_RED_URL}) with a password of the test session's own (${secret:JUPYTER_TOKEN},
${secret:NODE_RED_PASSWORD}). The whole process tree stops after the session.

Closed network: both apps are told not to call home. JupyterLab would fetch news and
update checks (jupyter.org, through its server) and offer a "get notified about
news?" toast; its extension manager would query PyPI. Node-RED would send telemetry
and check for updates (nodered.org), and its palette manager reads a catalogue
(catalogue.nodered.org). All are switched off below with the apps' own settings.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrol.appium_server import stop_tree
from patrol.core.net import free_port

from .fault_proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
REALAPPS = ROOT / ".realapps"
JUPYTER = REALAPPS / "jupyter" / "bin" / "jupyter"
NODE_RED = REALAPPS / "node-red" / "node_modules" / ".bin" / "node-red"
BCRYPT = REALAPPS / "node-red" / "node_modules" / "bcryptjs"
JOURNEYS = Path(__file__).resolve().parent / "journeys"
START_TIMEOUT_S = 60.0

JUPYTER_TOKEN = "jt-" + secrets.token_hex(12)
NODE_RED_PASSWORD = "nr-" + secrets.token_hex(8)
os.environ["JUPYTER_TOKEN"] = JUPYTER_TOKEN
os.environ["NODE_RED_PASSWORD"] = NODE_RED_PASSWORD

# The data the journeys open: a small table (JupyterLab's CSV viewer draws it on a canvas).
SALES_CSV = "month,region,orders,revenue\n" + "\n".join(
    f"2026-{m:02d},{region},{10 * m + i},{1250 * m + 75 * i}" for m in range(1, 7) for i, region in enumerate(["north", "south"])
) + "\n"

JUPYTER_OVERRIDES = {
    # No news, no update check: on a closed network both are a failing request and a toast.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # No first-run tour or announcement pop-ups over the screens the journeys compare.
    "@jupyterlab/apputils-extension:announcements": {},
}

NODE_RED_SETTINGS = """\
// Written by tests/real_apps/apps.py for one test session.
const bcrypt = require(%(bcrypt)s);
module.exports = {
  uiHost: "127.0.0.1",
  flowFile: "flows.json",
  credentialSecret: false,
  adminAuth: {type: "credentials", users: [{username: "admin",
    password: bcrypt.hashSync(process.env.NODE_RED_PASSWORD, 8), permissions: "*"}]},
  // Closed network: no telemetry, no update check, no palette catalogue.
  telemetry: {enabled: false, updateNotification: false},
  diagnostics: {enabled: false},
  editorTheme: {tours: false, palette: {catalogues: []}, projects: {enabled: false}},
  logging: {console: {level: "info"}},
};
"""


@dataclass
class RealApp:
    name: str
    direct_url: str  # the app itself (tests only)
    proxy: FaultProxy
    proc: subprocess.Popen[bytes]
    data: Path
    log: Path
    start_s: float  # process start to ready

    @property
    def url(self) -> str:
        """What journeys use: the app through the fault proxy."""
        return self.proxy.url

    def journeys(self) -> list[Path]:
        return sorted((JOURNEYS / self.name).glob("*.yaml"))

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def need(path: Path) -> None:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make real-apps` (part of `make test`) to install the real apps", pytrace=False)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, ok: tuple[int, ...] = (200,)) -> float:
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status in ok:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {START_TIMEOUT_S:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")


def spawn(cmd: list[str], data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = data / "server.log"
    out = log.open("wb")
    proc = subprocess.Popen(cmd, cwd=data, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    out.close()
    return proc, log


def started(name: str, cmd: list[str], data: Path, env: dict[str, str], port: int, ready_path: str) -> RealApp:
    """The app ``cmd`` starts on ``port``, once ``ready_path`` answers, behind a fault proxy of its own
    (stopped again if it never answers)."""
    t0 = time.monotonic()
    proc, log = spawn(cmd, data, env)
    direct = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{direct}{ready_path}", proc, log)
    except BaseException:
        stop_tree(proc, grace_s=5)
        raise
    proxy = FaultProxy(port).start()
    return RealApp(name, direct, proxy, proc, data, log, time.monotonic() - t0)


def start_jupyter(data: Path) -> RealApp:
    need(JUPYTER)
    port = free_port()
    root, settings = data / "files", data / "app-settings"
    for folder in (root, settings, data / "config", data / "data", data / "runtime", data / "user-settings", data / "workspaces"):
        folder.mkdir(parents=True, exist_ok=True)
    (root / "sales.csv").write_text(SALES_CSV, encoding="utf-8")
    (root / "README.md").write_text("# Patrol test files\n\nA folder JupyterLab serves for the journeys.\n", encoding="utf-8")
    (settings / "overrides.json").write_text(json.dumps(JUPYTER_OVERRIDES), encoding="utf-8")
    cmd = [str(JUPYTER), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={JUPYTER_TOKEN}",
           f"--LabApp.app_settings_dir={settings}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--ServerApp.open_browser=False"]
    env = {"JUPYTER_CONFIG_DIR": str(data / "config"), "JUPYTER_DATA_DIR": str(data / "data"),
           "JUPYTER_RUNTIME_DIR": str(data / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(data / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(data / "workspaces"), "JUPYTER_PLATFORM_DIRS": "1"}
    return started("jupyter", cmd, data, env, port, f"/api/status?token={JUPYTER_TOKEN}")


def start_node_red(data: Path) -> RealApp:
    need(NODE_RED)
    port = free_port()
    (data / "user").mkdir(parents=True, exist_ok=True)
    settings = data / "settings.js"
    settings.write_text(NODE_RED_SETTINGS % {"bcrypt": json.dumps(str(BCRYPT))}, encoding="utf-8")
    cmd = [str(NODE_RED), "--settings", str(settings), "--userDir", str(data / "user"), "--port", str(port)]
    return started("node-red", cmd, data, {"NODE_RED_PASSWORD": NODE_RED_PASSWORD}, port, "/")


def running(app: RealApp, env_var: str) -> Iterator[RealApp]:
    os.environ[env_var] = app.url
    try:
        yield app
    finally:
        app.proxy.stop()
        stop_tree(app.proc, grace_s=10)


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApp]:
    yield from running(start_jupyter(tmp_path_factory.mktemp("jupyter")), "JUPYTER_URL")


@pytest.fixture(scope="session")
def node_red(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApp]:
    yield from running(start_node_red(tmp_path_factory.mktemp("node-red")), "NODE_RED_URL")


@pytest.fixture
def clean_proxies(request: pytest.FixtureRequest) -> Iterator[None]:
    """No fault outlives its test (the apps are shared by the whole session)."""
    yield
    for name in ("jupyter", "node_red"):
        if name in request.fixturenames:
            request.getfixturevalue(name).proxy.clear()
