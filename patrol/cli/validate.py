from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..core.capabilities import profile_for
from ..core.vocabulary import Target
from ..errors import EXIT_INPUT, ConfigError, InputError, JourneyError, Problem

if TYPE_CHECKING:
    from ..config import Config
    from ..journey.model import Journey


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="check patrol.yaml and journey files; print every problem as file:line:column: field: message")
    p.add_argument("paths", nargs="*", metavar="PATH", help="journey files or folders (default: the journeys folder)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    """patrol.yaml (every section: receivers, schedules, retention...) and the journeys,
    all problems of both reported together. ``${...}`` values are not resolved: a
    missing secret is reported where it is used, so validating needs no secrets."""
    from .. import console
    from ..config import Config, find_config, load_config
    from ..journey.loader import load_all, project_budgets

    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as e:
        if not e.problems:
            raise  # no file, unreadable, YAML syntax: nothing more to say about it
        problems.extend(e.problems)
    if config is None:  # the journeys folder as if the file were good
        found = find_config(getattr(args, "config", None))
        config = Config(root=found.resolve().parent) if found else Config()
    journeys = []
    try:
        journeys = load_all(args.paths or [str(config.journeys_dir)], budgets=project_budgets(config))
    except JourneyError as e:
        problems.extend(e.problems)
    problems.extend(device_problems(config, journeys))
    if problems:
        raise InputError("\n".join(map(str, problems)), problems)
    if config.file:
        data = config.data  # the sections' mapping (load_config refused anything else), or None when empty
        sections = ", ".join(str(k) for k in data) if isinstance(data, dict) else ""
        sections = sections or "no sections"
        console.say(f"[green]ok[/] {console.safe(config.file)}: {console.safe(sections)}")
    for j in journeys:
        console.say(f"[green]ok[/] {console.safe(j.file)}: {console.safe(j.name)}, {len(j.steps)} steps")
        for warning in j.warnings:
            console.say(f"[yellow]warning[/] {console.safe(warning)}")
    return 0 if journeys else EXIT_INPUT


def device_problems(config: Config, journeys: list[Journey]) -> list[Problem]:
    """Steps an app journey's patrol.yaml device cannot do (a browser session cannot
    ``launch:`` an app): the capability check the loader could not make, not knowing the
    device. ``patrol run`` makes it too, before starting anything."""
    from ..actions import ACTIONS
    from ..drivers.app._appium_support import merge
    from ..journey.loader import STEP_KEYS
    from ..journey.needs import device_refusals

    problems: list[Problem] = []
    for journey in journeys:
        device = config.settings.appium.devices.get(str(journey.options.get("appium_device") or ""))
        if journey.target != Target.APP or device is None:
            continue
        session = merge(dict(device.capabilities), journey.option("capabilities", dict) or {})
        problems += device_refusals(journey, profile_for("app", session), {n: a.needs for n, a in ACTIONS.items()},
                                    {k: s.needs for k, s in STEP_KEYS.items()})
    return problems
