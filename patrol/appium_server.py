"""A local Appium server: installing it (pinned, from npm, into a project-local
``APPIUM_HOME``) and starting/stopping it, for the tests and ``make appium``.

Patrol itself never starts Appium for a run: in production the server (or a grid,
or a device cloud) is somebody else's and Patrol only connects to it
(``PATROL_APPIUM_URL`` / ``patrol.yaml`` ``appium.url``). This module is the
set-up and test helper::

    python -m patrol.appium_server install   # what `make appium` runs (idempotent)
    python -m patrol.appium_server check     # versions of node, appium and its drivers
    python -m patrol.appium_server serve [--port 4723]   # a local server in the foreground

Nothing here downloads a browser or a chromedriver: the chromium driver is told to
use the machine's ``/usr/bin/chromedriver`` by the capabilities Patrol sends.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from .core.jsontypes import json_objects
from .core.net import free_port

ROOT = Path(__file__).resolve().parents[1]

# Pinned: Appium 3 and the two drivers the tests use. Change them together, then
# `make appium` reinstalls (the stamp file names the versions).
APPIUM_VERSION = "3.8.0"
DRIVERS = {
    "chromium": ("appium-chromium-driver", "3.1.1"),
    "fake": ("@appium/fake-driver", "6.2.4"),
}
# Appium 3 needs Node ^20.19 || ^22.12 || >= 24. Debian 12 ships Node 18, so when the
# machine's node is older, a Node build published on npm is used (a binary inside a
# registry package, installed like any other package).
NODE_MIN = (20, 19)
NODE_FALLBACK = "22.22.0"
NPM_FLAGS = ["--no-audit", "--no-fund", "--loglevel=error", "--save-exact"]


class AppiumSetupError(RuntimeError):
    """Appium is not installed (or not installable) here."""


def appium_home() -> Path:
    """``$APPIUM_HOME`` when set, else ``<repo>/.appium`` (gitignored)."""
    env = os.environ.get("APPIUM_HOME")
    return Path(env).resolve() if env else ROOT / ".appium"


def stamp_name() -> str:
    drivers = "-".join(f"{name}{version}" for name, (_pkg, version) in sorted(DRIVERS.items()))
    return f".installed-appium{APPIUM_VERSION}-{drivers}"


def _version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def node_version(node: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return (0, 0, 0)
    return _version_tuple(out)


def node_ok(version: tuple[int, ...]) -> bool:
    major, minor = version[0], version[1]
    if major == 20:
        return minor >= NODE_MIN[1]
    if major == 22:
        return minor >= 12
    return major >= 24


def _fallback_node(home: Path) -> Path:
    return home / "node" / "node_modules" / _node_package()[0] / "bin" / "node"


def _node_package() -> tuple[str, str]:
    machine = os.uname().machine
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"node-linux-{arch}", NODE_FALLBACK


def find_node(home: Path | None = None) -> str:
    """The Node.js that runs Appium: the machine's when new enough, else the one
    ``install()`` put under ``APPIUM_HOME/node``."""
    home = home or appium_home()
    system = shutil.which("node")
    if system and node_ok(node_version(system)):
        return system
    fallback = _fallback_node(home)
    if fallback.is_file() and node_ok(node_version(str(fallback))):
        return str(fallback)
    found = f"node {'.'.join(map(str, node_version(system)))} at {system}" if system else "no node on PATH"
    raise AppiumSetupError(
        f"Appium {APPIUM_VERSION} needs Node.js >= {NODE_MIN[0]}.{NODE_MIN[1]} ({found}); run `make appium`"
    )


def appium_main(home: Path | None = None) -> Path:
    return (home or appium_home()) / "node_modules" / "appium" / "index.js"


def installed(home: Path | None = None) -> bool:
    home = home or appium_home()
    return (home / stamp_name()).is_file() and appium_main(home).is_file()


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise AppiumSetupError("npm is missing: install Debian's nodejs and npm (apt-get install nodejs npm), or run `make appium`")
    return npm


def install(home: Path | None = None, *, quiet: bool = False) -> Path:
    """Install Appium and the drivers, pinned, into ``home``; skip when already there."""
    home = home or appium_home()
    if installed(home):
        return home

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    home.mkdir(parents=True, exist_ok=True)
    npm = _npm()
    system = shutil.which("node")
    if not (system and node_ok(node_version(system))):
        pkg, version = _node_package()
        say(f"node on this machine is too old for Appium {APPIUM_VERSION}; installing {pkg}@{version} from npm")
        (home / "node").mkdir(exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(home / "node"), *NPM_FLAGS, f"{pkg}@{version}"], check=True)
    node = find_node(home)
    packages = [f"appium@{APPIUM_VERSION}"] + [f"{pkg}@{version}" for pkg, version in DRIVERS.values()]
    say(f"installing {' '.join(packages)} into {home}")
    env = {**os.environ, "APPIUM_HOME": str(home), "APPIUM_SKIP_CHROMEDRIVER_INSTALL": "1",
           "PATH": f"{Path(node).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Drivers installed as plain dependencies of APPIUM_HOME are found by Appium's own
    # extension discovery; `appium driver list --installed` below proves it.
    subprocess.run([npm, "install", "--prefix", str(home), *NPM_FLAGS, *packages], check=True, env=env)
    found = list_drivers(home)
    missing = [name for name, (_pkg, version) in DRIVERS.items() if found.get(name) != version]
    if missing:
        raise AppiumSetupError(f"Appium does not list the driver(s) {', '.join(missing)} after install (found {found})")
    (home / stamp_name()).write_text(json.dumps({"appium": APPIUM_VERSION, "drivers": found}, indent=2) + "\n")
    say(f"Appium {APPIUM_VERSION} with drivers {', '.join(f'{k}@{v}' for k, v in sorted(found.items()))} in {home}")
    return home


def list_drivers(home: Path | None = None) -> dict[str, str]:
    """Installed drivers as Appium itself reports them: name -> version."""
    home = home or appium_home()
    out = subprocess.run(
        [find_node(home), str(appium_main(home)), "driver", "list", "--installed", "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "APPIUM_HOME": str(home)},
    )
    try:
        data = json.loads(out.stdout)
    except ValueError:
        raise AppiumSetupError(f"`appium driver list` failed: {(out.stderr or out.stdout).strip()[:500]}") from None
    return {name: str(info.get("version", "")) for name, info in data.items() if info.get("installed", True)}




# -- the child's lifetime -------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``signum`` when the Patrol process that
    started it dies, even by SIGKILL (Linux ``prctl(PR_SET_PDEATHSIG)``); None elsewhere.
    The signal follows the *thread* that forked, so start servers from a long-lived one."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def preexec() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; [] where there is none), children
    first. Read before stopping a tree: an orphan is re-parented and lost from it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        # Field 4 (ppid) comes after the command name, which may hold spaces and ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> None:
    """Stop a child and everything it started: SIGTERM to its process group and to every
    descendant (some leave the group), wait up to ``grace_s``, then SIGKILL what is left."""
    tree = descendants(proc.pid)
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        _signal_all([proc.pid, *tree], sig)
        tree += [p for p in descendants(proc.pid) if p not in tree]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not any(_alive(p) for p in tree):
                return
            time.sleep(0.05)


@dataclass
class AppiumServer:
    """One local Appium server process. ``port=0`` picks a free port.

    ``with AppiumServer() as server: server.url`` — started and ready inside the
    block, stopped (its whole process group) after it. The server log (debug level,
    so the commands and their arguments can be read back) goes to ``log_file``."""

    host: str = "127.0.0.1"
    port: int = 0
    home: Path | None = None
    log_file: Path | None = None
    log_level: str = "debug"
    start_timeout_s: float = 60.0
    allow_insecure: tuple[str, ...] = ()  # e.g. ("session_discovery",) for GET /appium/sessions

    def __post_init__(self) -> None:
        self.home = Path(self.home) if self.home else appium_home()
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> AppiumServer:
        home = self.home or appium_home()
        if not appium_main(home).is_file():
            raise AppiumSetupError(f"Appium is not installed in {home}; run `make appium`")
        node = find_node(home)
        if not self.port:
            self.port = free_port(self.host)
        if self.log_file is None:
            self.log_file = home / "logs" / f"appium-{self.port}.log"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = open(self.log_file, "ab")  # closed by stop()
        cmd = [node, str(appium_main(home)), "server", "--address", self.host, "--port", str(self.port),
               "--log-level", f"{self.log_level}:{self.log_level}", "--log-no-colors", "--log-timestamp",
               "--local-timezone"]
        if self.allow_insecure:
            cmd += ["--allow-insecure", ",".join(f"*:{f}" for f in self.allow_insecure)]
        env = {**os.environ, "APPIUM_HOME": str(home), "APPIUM_SKIP_CHROMEDRIVER_INSTALL": "1"}
        # Its own session (a Ctrl-C in the terminal reaches Patrol, which then stops the
        # whole tree in order), and it dies with Patrol even when Patrol is SIGKILLed.
        self.process = subprocess.Popen(cmd, stdout=self._log_handle, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        preexec_fn=die_with_parent())
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise AppiumSetupError(f"Appium exited at start (code {code}):\n{tail}")
            if self.ready():
                return self
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise AppiumSetupError(f"Appium did not answer {self.url}/status within {self.start_timeout_s:.0f}s:\n{tail}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/status", timeout=2) as r:
                return bool(json.loads(r.read().decode("utf-8")).get("value", {}).get("ready", True))
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def sessions(self) -> list[dict[str, object]]:
        """Sessions the server has open now (``GET /appium/sessions``)."""
        with urllib.request.urlopen(f"{self.url}/appium/sessions", timeout=5) as r:
            answer = json.loads(r.read().decode("utf-8"))
        return json_objects(answer, "value") if isinstance(answer, dict) else []

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file else ""
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            # The server's own children (chromedriver, Chromium) too, whether or not
            # the server itself is still there.
            stop_tree(proc)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> AppiumServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def serve(host: str, port: int) -> int:
    """A server in the foreground until SIGTERM, SIGINT (Ctrl-C) or SIGHUP; then its whole
    tree is stopped before this process exits (a supervisor's restart leaks nothing)."""
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        with AppiumServer(host, port, log_level="info") as server:
            print(f"Appium {APPIUM_VERSION} at {server.url} (APPIUM_HOME {server.home}); log: {server.log_file}; "
                  "Ctrl-C stops it", flush=True)
            while not stop.wait(0.5):
                if server.process is None or server.process.poll() is not None:
                    print(f"Appium exited by itself:\n{server.log_tail()}", file=sys.stderr, flush=True)
                    return 1
            # Signals during the stop are already being handled: ignore repeats.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_IGN)
        print(f"Appium stopped ({signal.Signals(got[0]).name}).", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m patrol.appium_server", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="install Appium and the chromium and fake drivers into APPIUM_HOME (idempotent)")
    sub.add_parser("check", help="print node, Appium and driver versions")
    serve_p = sub.add_parser("serve", help="run a local Appium server in the foreground")
    serve_p.add_argument("--host", default="127.0.0.1")
    serve_p.add_argument("--port", type=int, default=4723)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install()
        elif args.command == "check":
            home = appium_home()
            node = find_node(home)
            print(f"APPIUM_HOME {home}")
            print(f"node {'.'.join(map(str, node_version(node)))} ({node})")
            print(f"appium {APPIUM_VERSION} {'installed' if installed(home) else 'NOT installed (make appium)'}")
            for name, version in sorted(list_drivers(home).items()):
                print(f"driver {name} {version}")
        else:
            return serve(args.host, args.port)
    except (AppiumSetupError, subprocess.CalledProcessError) as e:
        print(f"appium set-up failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
