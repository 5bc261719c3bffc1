"""``patrol doctor``: what this machine has and reaches, one line per piece, with the
fix for every missing one. Exit 0 when every required piece is there, 1 otherwise.

Required: Chromium, Tesseract with the OCR languages, CJK fonts, the state database
(when on), the receivers' hosts, and the Appium server when one is configured. Not
required: Appium when none is configured (app journeys in folders are then set
aside by ``patrol run``), the project-local Appium install.

It only looks: no browser is started, no database is created or migrated, no
webhook is sent.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Config
from ..errors import EXIT_FINDINGS, EXIT_OK, ConfigError, InputError, RobotError

PROBE_TIMEOUT_S = 5.0


@dataclass
class Item:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def label(self) -> str:
        if self.ok:
            return "ok"
        return "missing" if self.required else "optional"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="say what is installed and reachable (browser, OCR, fonts, Appium, state, receivers)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    from .. import console
    from ..config import load_config

    config = load_config(args.config)
    items = diagnose(config)
    width = max(len(i.name) for i in items)
    for item in items:
        colour = "green" if item.ok else ("red" if item.required else "yellow")
        line = f"[{colour}]{item.label:<8}[/] {console.safe(item.name.ljust(width))}  {console.safe(item.detail)}"
        if not item.ok and item.fix:
            line += f"\n{' ' * (10 + width)}fix: {console.safe(item.fix)}"
        console.say(line)
    missing = [i for i in items if i.required and not i.ok]
    console.say(f"{len(missing)} required piece(s) missing" if missing else "everything Patrol needs is here")
    return EXIT_FINDINGS if missing else EXIT_OK


def diagnose(config: Config) -> list[Item]:
    items = [chromium(config), *tesseract(config), *rapidocr(config), cjk_fonts(), *appium(config), state_database(config)]
    return items + capture(config) + [fleet_extras(config)] + receivers(config)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    """A probe command's output, or None when it cannot run at all."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


# -- browser ---------------------------------------------------------------------------
def chromium(config: Config) -> Item:
    from ..drivers.chromium import INSTALL_HINT, find_chromium
    from ..drivers.web._remote import endpoint_of

    try:
        remote = endpoint_of(config)
    except ConfigError as e:
        return Item("browser server", False, str(e), "correct browser.connect (or PATROL_BROWSER_CONNECT)")
    if remote is not None:  # the browsers run there: this machine needs no Chromium
        return browser_server(remote.url, remote.shown)
    try:
        path = find_chromium(config.settings.browser.executable)
    except RobotError as e:
        return Item("chromium", False, str(e).split(";")[0], INSTALL_HINT)
    done = _run([path, "--version"])
    if done is None or done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1] if done else "it does not start"
        return Item("chromium", False, f"{path} --version failed: {why}", INSTALL_HINT)
    return Item("chromium", True, f"{done.stdout.strip().splitlines()[0]} ({path})")


def browser_server(url: str, shown: str) -> Item:
    """A Playwright browser server (``browser.connect``): does its port answer?"""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    fix = "start `python -m patrol.browser_server` on that host, or correct browser.connect"
    try:
        socket.create_connection((parts.hostname or "", port), timeout=5).close()
    except OSError as e:
        return Item("browser server", False, f"{shown}: cannot connect ({e.strerror or type(e).__name__})", fix)
    return Item("browser server", True, f"{shown} answers (journeys' browsers run there)")


# -- OCR and fonts ---------------------------------------------------------------------
def tesseract(config: Config) -> list[Item]:
    fix = "apt-get install tesseract-ocr tesseract-ocr-chi-sim"
    lang = config.settings.ocr.lang
    wanted = [part for part in str(lang).split("+") if part]
    binary = shutil.which("tesseract")
    if binary is None:
        return [Item("tesseract", False, "not installed: the robot cannot read screens (text checks, text locators)", fix)]
    version = _run([binary, "--version"])
    langs = _run([binary, "--list-langs"])
    if version is None or langs is None or langs.returncode != 0:
        return [Item("tesseract", False, f"{binary} does not run", f"reinstall it: {fix}")]
    first = (version.stdout or version.stderr).strip().splitlines()
    items = [Item("tesseract", True, f"{first[0] if first else 'tesseract'} ({binary})")]
    # --list-langs prints a header line, then one language per line.
    have = {line.strip() for line in langs.stdout.splitlines()[1:] if line.strip()}
    for part in wanted:
        package = "tesseract-ocr-" + part.replace("_", "-").lower()
        if part in have:
            items.append(Item(f"ocr language {part}", True, "installed"))
        else:
            items.append(Item(f"ocr language {part}", False, "no language data (needed by ocr.lang " + "+".join(wanted) + ")",
                              f"apt-get install {package}"))
    return items


def rapidocr(config: Config) -> list[Item]:
    """With ``ocr.engine`` rapidocr or both: are RapidOCR's models in its wheel? (Not loaded here.)"""
    if config.settings.ocr.engine == "tesseract":
        return []
    from ..ocr import rapid
    from ..ocr.tess import EngineError

    try:
        paths = rapid.model_paths()
    except EngineError as e:
        return [Item("rapidocr", False, f"{e} (needed by ocr.engine {config.settings.ocr.engine})",
                     "pip install --force-reinstall rapidocr onnxruntime")]
    ident = rapid.engine_id().split("|")
    return [Item("rapidocr", True, f"{', '.join(ident[:2])}; models {', '.join(p.name for p in paths.values())} "
                                   f"from the wheel ({rapid.model_dir()})")]


def cjk_fonts() -> Item:
    fix = "apt-get install fonts-noto-cjk"
    if shutil.which("fc-list") is None:
        return Item("cjk fonts", False, "fc-list is missing, so no font can be found", "apt-get install fontconfig fonts-noto-cjk")
    done = _run(["fc-list", ":lang=zh", "family"])
    families = sorted({f.split(",")[0].strip() for f in (done.stdout.splitlines() if done else []) if f.strip()})
    if not families:
        return Item("cjk fonts", False, "no Chinese font: pages render 口口口 and OCR of Chinese text fails", fix)
    more = f" (+{len(families) - 1} more)" if len(families) > 1 else ""
    return Item("cjk fonts", True, families[0] + more)


# -- Appium ----------------------------------------------------------------------------
def appium(config: Config) -> list[Item]:
    from .. import appium_server
    from .run import configured_appium_url

    items: list[Item] = []
    try:
        configured = configured_appium_url(config)
    except InputError as e:
        items.append(Item("appium server", False, str(e), "set appium.url / PATROL_APPIUM_URL to the server's http:// URL"))
        configured = None
    else:
        if configured is None:
            items.append(Item("appium server", True, "not configured: app journeys in folders are not run "
                              "(set appium.url in patrol.yaml or PATROL_APPIUM_URL to run them)", required=False))
        else:
            items.append(appium_reachable(*configured))
    home = appium_server.appium_home()
    if appium_server.installed(home):
        items.append(Item("appium (local)", True, f"Appium {appium_server.APPIUM_VERSION} in {home} "
                          "(start it: python -m patrol.appium_server serve)", required=False))
    else:
        items.append(Item("appium (local)", False, f"no local Appium in {home}", "make appium", required=False))
    return items


def capture(config: Config) -> list[Item]:
    """``appium.network.capture`` on: the proxy listens where configured, a TLS handshake
    through it trusting only its CA works, and each Android device patrol.yaml names
    (by udid, through adb) has its proxy set to it."""
    section = config.settings.appium.network
    if not section.capture:
        return []
    from ..drivers.app.capture_proxy import CaptureFailed, self_check

    confdir = config.path(Path(section.ca_dir).expanduser()) if section.ca_dir else None
    try:
        listener = self_check(section.listen, confdir)
    except CaptureFailed as e:
        return [Item("capture proxy", False, str(e), "free the port, or set appium.network.listen to a free HOST:PORT "
                     "(docs/mobile.md, 'Network capture')")]
    try:
        items = [Item("capture proxy", True, f"listens on {listener.address}; TLS through it with its CA works "
                      f"(devices trust {listener.ca_cert})")]
        for name, device in config.settings.appium.devices.items():
            caps = {k.split(":")[-1]: v for k, v in device.capabilities.items()}
            if str(caps.get("platformName", "")).lower() == "android":
                items.append(android_proxy(str(name), str(caps.get("udid") or ""), section.listen, listener.port))
    finally:
        listener.close()
    return items


def android_proxy(name: str, udid: str, listen: str | None, port: int) -> Item:
    """Whether an Android device's global HTTP proxy names the capture proxy's port."""
    label = f"capture on {name}"
    setting = f"adb -s {udid or 'UDID'} shell settings put global http_proxy HOST:{port}"
    if listen is None:
        return Item(label, False, "appium.network.listen is not set: the proxy takes a free port each run, which a "
                    "device cannot be pointed at", "set appium.network.listen to HOST:PORT (e.g. 0.0.0.0:8080)")
    adb = shutil.which("adb")
    if adb is None or not udid:
        return Item(label, False, "cannot ask the device for its proxy (no adb on PATH, or no udid in its "
                    "capabilities)", f"{setting} (an emulator: 10.0.2.2:{port}, or `adb reverse tcp:{port} "
                    f"tcp:{port}` and 127.0.0.1:{port})", required=False)
    answer = _run([adb, "-s", udid, "shell", "settings", "get", "global", "http_proxy"])
    value = answer.stdout.strip() if answer is not None and answer.returncode == 0 else ""
    if not value or value == "null":
        return Item(label, False, f"{udid} has no global HTTP proxy: the app's traffic does not reach Patrol", setting)
    if not value.endswith(f":{port}"):
        return Item(label, False, f"{udid}'s global HTTP proxy is {value}, not the capture proxy's port {port}", setting)
    return Item(label, True, f"{udid} sends its traffic through {value} (the app's network security config must "
                "trust user CAs: docs/mobile.md)")


def appium_reachable(url: str, source: str) -> Item:
    import httpx

    from ..config.receivers import mask_url

    shown = f"{mask_url(url)} (from {source})"
    fix = f"start it (python -m patrol.appium_server serve --port N) or correct {source}"
    try:
        answer = httpx.get(url.rstrip("/") + "/status", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as e:
        return Item("appium server", False, f"{shown} is not reachable: {type(e).__name__}", fix)
    if answer.status_code != 200:
        return Item("appium server", False, f"{shown} answered HTTP {answer.status_code} to /status", fix)
    try:
        version = answer.json()["value"]["build"]["version"]
    except (ValueError, KeyError, TypeError):
        version = "?"
    return Item("appium server", True, f"Appium {version} at {shown}")


def fleet_extras(config: Config) -> Item:
    """Celery, redis and psycopg: required with a ``fleet:`` section, optional without."""
    from ..fleet import extras

    wanted = config.settings.fleet.enabled
    try:
        from ..store import state_settings

        postgres = extras.uses_postgres(state_settings(config).url) if wanted else True
    except InputError:
        postgres = True
    absent = extras.missing(postgres=postgres)
    if not absent:
        return Item("fleet (celery, redis, psycopg)", True, "installed", required=wanted)
    what = "patrol.yaml has a fleet: section" if wanted else "only for patrol worker / patrol fleet (a fleet: section)"
    return Item("fleet (celery, redis, psycopg)", False, f"{', '.join(absent)} not installed; {what}",
                extras.INSTALL, required=wanted)


# -- state and receivers ---------------------------------------------------------------
def state_database(config: Config) -> Item:
    from sqlalchemy.engine import make_url

    from ..store import state_settings

    try:
        settings = state_settings(config)
    except InputError as e:
        return Item("state database", False, str(e), "fix state.url in patrol.yaml")
    if not settings.enabled:
        return Item("state database", True, "off (state: false): no incidents, no notifications", required=False)
    url = make_url(settings.url)
    shown = url.render_as_string(hide_password=True)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
        if not Path(database).exists():
            return Item("state database", True, f"{shown}: not there yet, created on the first run")
    return _migrations(settings.url, shown)


def _migrations(url: str, shown: str) -> Item:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from ..store.db import alembic_config, current_revision

    fix = "check state.url in patrol.yaml (and that the database server is up)"
    engine = create_engine(url)  # a plain engine: make_engine would create folders and switch on WAL
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except Exception as e:  # any driver's connection error: say it, do not crash the diagnosis
        return Item("state database", False, f"{shown} does not open: {type(e).__name__}: {str(e).splitlines()[0]}", fix)
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    if current == head:
        return Item("state database", True, f"{shown}, migrations current ({head})")
    if current is None:
        return Item("state database", True, f"{shown}: empty, set up on the first run")
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current in known:
        return Item("state database", True, f"{shown} at {current}, migrated to {head} on the next run")
    return Item("state database", False, f"{shown} is at revision {current}, which this Patrol does not know (written by a newer one?)",
                "upgrade Patrol, or point state.url at this version's database")


def receivers(config: Config) -> list[Item]:
    from ..config.receivers import mask_url
    from ..notify.receivers import load_receivers

    try:
        found = load_receivers(config)
    except InputError as e:
        return [Item("receivers", False, str(e), "fix the receivers section of patrol.yaml (or set the variable it names)")]
    items = []
    for name, receiver in found.items():
        host = urlsplit(receiver.url).hostname or ""
        problem = resolve(host)
        label = f"receiver {name}"
        if problem:
            items.append(Item(label, False, f"{mask_url(receiver.url_template)}: host {host!r} does not resolve ({problem})",
                              "correct the receiver's url, or the machine's DNS (/etc/resolv.conf)"))
        else:
            items.append(Item(label, True, f"{receiver.format} at {mask_url(receiver.url_template)}: {host} resolves"))
    return items


def resolve(host: str, lookup: Callable[[str, None], object] = socket.getaddrinfo) -> str | None:
    """None when ``host`` resolves, else why not (bounded: a dead DNS server must not hang the doctor)."""
    if not host:
        return "no host in the URL"
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(lookup, host, None).result(timeout=PROBE_TIMEOUT_S)
    except FutureTimeout:
        return f"no answer within {PROBE_TIMEOUT_S:g}s"
    except OSError as e:
        return e.strerror or str(e)
    finally:
        pool.shutdown(wait=False)
    return None

