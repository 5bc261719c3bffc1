"""Driver capabilities: a step that needs one its journey's target lacks is a positioned
``patrol validate`` error (exit 2), never a "not supported" at run time; the same step
validates on a target that has it. And the declared table cannot drift from the drivers:
every "not supported" raise in ``patrol/drivers/`` is a capability's method, and every
driver declares exactly the capabilities whose methods it implements.

No browser, no Appium server: these run in well under a second each."""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest

from patrol.cli import main
from patrol.core.capabilities import (
    APP,
    APP_BROWSER,
    APP_NATIVE,
    METHODS,
    PROFILES,
    WEB,
    Capability,
    is_browser_session,
    profile_for,
)

# How each kind of target is written in a journey.
HEADERS = {
    WEB.name: "target: web\n",
    APP.name: "target: app\n",  # the session's kind is not known (e.g. a patrol.yaml device gives it)
    APP_NATIVE.name: "target: app\ncapabilities: {platformName: Android, appPackage: com.example.bank}\n",
    APP_BROWSER.name: "target: app\ncapabilities: {platformName: linux, automationName: chromium, browserName: chromium}\n",
}
BY_NAME = {p.name: p for p in (*PROFILES, APP)}


@dataclass(frozen=True)
class Case:
    key: str  # the key that needs the capability, as the message names it
    step: str | None  # a step using it (its key at column 5), or None: ``journey_key`` instead
    lacking: str  # a profile without the capability
    having: str  # a profile with it
    journey_key: str = ""  # a journey-level line using it


CASES = {
    Capability.FRAMES: Case("frame", "frame: {id: f}\n    click: {id: a}", APP_NATIVE.name, WEB.name),
    Capability.WINDOWS: Case("switch_to", "switch_to: popup", APP_BROWSER.name, WEB.name),
    Capability.HOVER: Case("hover", "hover: {id: menu}", APP.name, WEB.name),
    Capability.DRAG: Case("drag", "drag: {from: {id: a}, to: {id: b}}", APP_NATIVE.name, WEB.name),
    Capability.UPLOADS: Case("upload", "upload: {selector: {id: f}, files: x.png}", APP_BROWSER.name, WEB.name),
    Capability.APP_CONTROL: Case("launch", "launch: true", WEB.name, APP_NATIVE.name),
    Capability.NETWORK: Case("network", None, APP.name, WEB.name, journey_key="network: {first_party: [bank.test]}"),
}


def write(tmp_path: Path, case: Case, profile: str) -> tuple[Path, int, int]:
    """The journey file, and where (line, column) its needing key is."""
    (tmp_path / "x.png").write_bytes(b"x")
    header = HEADERS[profile]
    lines = ["name: t", *header.splitlines()]
    if case.journey_key:
        lines.append(case.journey_key)
        at = (len(lines), 1)
    lines += ["steps:", "  - click: {id: start}"]
    if case.step is not None:
        lines.append("  - " + case.step)
        at = (len(lines), 5)
    f = tmp_path / f"{profile}.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f, *at


def validate(capsys: pytest.CaptureFixture[str], path: Path, *command: str, config: str = "state: false\n") -> tuple[int, list[str]]:
    """``patrol validate PATH`` (or ``command``) with a patrol.yaml of the test's own."""
    (path.parent / "patrol.yaml").write_text(config, encoding="utf-8")
    code = main(["--config", str(path.parent / "patrol.yaml"), *(command or ("validate",)), str(path)])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out, out.err
    return code, [line for line in out.err.splitlines() if line.strip()]


def test_every_capability_has_a_case():
    assert set(CASES) == set(Capability)
    for cap, case in CASES.items():
        assert cap not in BY_NAME[case.lacking].offers and cap in BY_NAME[case.having].offers, cap


@pytest.mark.parametrize("capability", list(Capability), ids=[c.name.lower() for c in Capability])
def test_a_step_needing_a_capability_the_target_lacks_is_refused_where_it_is(tmp_path, capsys, capability):
    case = CASES[capability]
    lacking = BY_NAME[case.lacking]
    f, line, col = write(tmp_path, case, case.lacking)
    code, errors = validate(capsys, f)
    field = case.key if case.step is None else f"steps.1.{case.key}"
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"{f}:{line}:{col}: {field}: '{case.key}' needs {capability}, "
                                f"which {lacking.journeys} don't have"), errors
    # The message says where it does work.
    where = " and ".join(p.journeys for p in PROFILES if capability in p.offers)
    assert errors[0].endswith(f"(it works in {where})"), errors

    f, _, _ = write(tmp_path, case, case.having)
    code, errors = validate(capsys, f)
    assert code == 0 and errors == [], errors


def test_run_refuses_before_starting_anything(tmp_path, capsys):
    """``patrol run`` loads journeys the same way: the same refusal, exit 2, no driver started."""
    case = CASES[Capability.HOVER]
    f, line, col = write(tmp_path, case, APP.name)
    code, errors = validate(capsys, f, "run", "--output", str(tmp_path / "runs"))
    assert code == 2, errors
    assert any(e.startswith(f"{f}:{line}:{col}: steps.1.hover: 'hover' needs hover, which app journeys don't have")
               for e in errors), errors
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_flow_is_checked_against_the_journey_that_includes_it(tmp_path, capsys):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "menu.yaml").write_text("flow: menu\nsteps:\n  - hover: {id: menu}\n", encoding="utf-8")
    f = tmp_path / "j.yaml"
    f.write_text(f"name: t\n{HEADERS[APP_NATIVE.name]}steps:\n  - include: flows/menu.yaml\n", encoding="utf-8")
    code, errors = validate(capsys, f)
    assert code == 2 and any("menu.yaml:3:5: steps.0.hover: 'hover' needs hover, which native app journeys" in e
                             for e in errors), errors


DEVICES = """\
appium:
  devices:
    phone: {capabilities: {platformName: Android, appPackage: com.example.bank}}
    desktop-chromium: {capabilities: {platformName: linux, automationName: chromium, browserName: chromium}}
"""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_patrol_yaml_device_decides_what_its_journeys_can_do(tmp_path, capsys, command):
    """The journey file does not say whether its device is a native app or a browser;
    patrol.yaml does, so validate (and run, before starting) check against it."""
    f = tmp_path / "j.yaml"
    f.write_text("name: t\ntarget: app\nappium_device: desktop-chromium\nsteps:\n  - tap: {id: a}\n"
                 "  - name: start over\n    launch: true\n", encoding="utf-8")
    extra = ("--output", str(tmp_path / "runs")) if command == "run" else ()
    code, errors = validate(capsys, f, command, *extra, config=DEVICES)
    assert code == 2, errors
    assert any(e.startswith(f"{f}:7:5: launch: step 2 'launch' needs app control, which app journeys in a browser "
                            f"session don't have (it works in native app journeys); its session is patrol.yaml "
                            f"appium.devices.desktop-chromium") for e in errors), errors
    if command == "validate":
        f.write_text(f.read_text(encoding="utf-8").replace("desktop-chromium", "phone"), encoding="utf-8")
        code, errors = validate(capsys, f, command, config=DEVICES)
        assert code == 0 and errors == [], errors


def test_profiles_of_targets():
    assert profile_for("web") is WEB
    assert profile_for("app") is APP
    assert profile_for("app", {"platformName": "Android", "appium:appPackage": "x"}) is APP_NATIVE
    assert profile_for("app", {"platformName": "linux", "browserName": "chromium"}) is APP_BROWSER
    # A browser name beside an app is still the app.
    assert profile_for("app", {"browserName": "chrome", "appium:app": "/a.apk"}) is APP_NATIVE
    assert APP.offers == APP_NATIVE.offers | APP_BROWSER.offers


# ------------------------------------------------------------------------ the table vs the drivers
DRIVERS = Path(__file__).resolve().parent.parent / "patrol" / "drivers"
# Not a declared capability: the Appium server itself answering that it lacks a command
# (a driver of some platform without, say, scrolling), known only once the session runs.
SERVER_SAYS_UNSUPPORTED = {("appium_session.py", "unsupported")}
# The last guard: a driver used as a capability it does not declare.
LAST_GUARD = {("base.py", "_capable")}


def test_every_not_supported_raise_in_the_drivers_is_a_capability_method():
    capability_methods = {m for methods in METHODS.values() for m in methods}
    found = set()
    for source in sorted(DRIVERS.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "NOT_SUPPORTED" in ast.unparse(node):
                found.add((source.name, node.name))
    assert found, "the scan found no 'not supported' raise at all: it no longer looks where they are"
    strays = {(f, name) for f, name in found if name not in capability_methods} - SERVER_SAYS_UNSUPPORTED - LAST_GUARD
    assert not strays, f"'not supported' outside a declared capability: {sorted(strays)}"


def _implements(cls: type, method: str, base: type) -> bool:
    """``cls`` has ``method`` of its own (not ``base``'s "not supported" default)."""
    own = getattr(cls, method, None)
    return own is not None and own is not getattr(base, method, None)


def test_each_driver_declares_exactly_the_capabilities_it_implements():
    from patrol.drivers.app.appium import AppiumDriver, strategy_for
    from patrol.drivers.app.appium_native import AndroidStrategy, IOSStrategy, NativeStrategy
    from patrol.drivers.app.appium_session import AppiumSession
    from patrol.drivers.app.appium_web import WebStrategy
    from patrol.drivers.base import Driver
    from patrol.drivers.fake import FakeDriver
    from patrol.drivers.web.playwright import PlaywrightDriver

    for cls in (PlaywrightDriver, FakeDriver):
        implemented = {c for c, ms in METHODS.items() if all(_implements(cls, m, Driver) for m in ms)}
        assert cls.capabilities == implemented, cls.__name__
    # Appium: one driver over a session strategy; a capability is the driver's method and,
    # where the strategy decides (app control), the strategy's own override.
    for strategy in (NativeStrategy, AndroidStrategy, IOSStrategy, WebStrategy):
        implemented = {c for c, ms in METHODS.items()
                       if all(_implements(AppiumDriver, m, Driver)
                              and (not hasattr(AppiumSession, m) or _implements(strategy, m, AppiumSession)) for m in ms)}
        assert strategy.capabilities == implemented, strategy.__name__
    assert "self.capabilities = self.s.capabilities" in inspect.getsource(AppiumDriver.__init__)
    assert "is_browser_session" in inspect.getsource(strategy_for)

    # What validate assumes of each kind of target is what its driver declares.
    assert WEB.offers == PlaywrightDriver.capabilities
    assert APP_NATIVE.offers == NativeStrategy.capabilities == AndroidStrategy.capabilities == IOSStrategy.capabilities
    assert APP_BROWSER.offers == WebStrategy.capabilities


def test_appium_decides_browser_or_native_by_the_same_rule_as_validate():
    from patrol.drivers.app import _appium_support as sup

    assert sup.is_browser_session is is_browser_session


def test_every_capability_is_needed_by_something():
    from patrol import plugins
    from patrol.actions import ACTIONS
    from patrol.checks import CHECKS
    from patrol.journey.loader import JOURNEY_KEYS, STEP_KEYS
    from patrol.journey.needs import FRAME_NEEDS

    plugins.load()
    needed = set(FRAME_NEEDS)
    for declared in (*ACTIONS.values(), *CHECKS.values(), *JOURNEY_KEYS.values(), *STEP_KEYS.values()):
        needed |= declared.needs
    assert needed == set(Capability)


def test_capability_views_are_the_declared_methods_and_refuse_a_driver_without_them():
    """``hovering(driver).hover(...)``: the protocol is the capability's methods, and a
    driver that does not declare it is "not supported" (never reached after validate)."""
    from types import SimpleNamespace

    from patrol.core.vocabulary import Reason
    from patrol.drivers import base
    from patrol.errors import ActionFailed

    views = {Capability.HOVER: (base.hovering, base.Hovers), Capability.UPLOADS: (base.uploading, base.Uploads),
             Capability.DRAG: (base.dragging, base.Drags), Capability.WINDOWS: (base.windows, base.Windows),
             Capability.APP_CONTROL: (base.app_control, base.ControlsApps)}
    for cap, (view, protocol) in views.items():
        assert tuple(m for m in vars(protocol) if not m.startswith("_")) == METHODS[cap], cap
        assert not hasattr(base.Driver, METHODS[cap][0]), f"{cap} is a capability, not the core"
        having = SimpleNamespace(capabilities=frozenset({cap}))
        assert view(having) is having
        with pytest.raises(ActionFailed) as e:
            view(SimpleNamespace(capabilities=frozenset(Capability) - {cap}))
        assert e.value.reason == Reason.NOT_SUPPORTED and f"{cap} is not supported" in str(e.value)
    # Frames stay in the core (no frame is a no-op every step enters); network evidence is
    # Playwright's own, asked for by its engine only.
    assert set(views) == set(Capability) - {Capability.FRAMES, Capability.NETWORK}
