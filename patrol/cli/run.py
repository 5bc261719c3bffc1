from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from ..config import Config
from ..core.vocabulary import Target
from ..errors import ConfigError, InputError
from ..journey.model import Journey
from ..secrets import MissingVariable, interpolate

NEEDS_APPIUM = "needs an Appium server (set appium.url or PATROL_APPIUM_URL)"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run journeys and write a report")
    p.add_argument("paths", nargs="*", metavar="PATH|DIR", help="journey files or folders (default: journeys/)")
    p.add_argument("--tag", action="append", default=[], metavar="T", help="only journeys with this tag (repeatable: any of)")
    p.add_argument("--base-url", metavar="URL", help="override every journey's base_url")
    p.add_argument("--output", metavar="DIR", help="write the run into exactly this folder (default: reports/<run-id>/)")
    p.add_argument("--headed", action="store_true", help="show the browser window (needs a display)")
    p.add_argument("--concurrency", type=int, metavar="N", help="journeys at once (default: patrol.yaml concurrency, else 1)")
    p.add_argument("--update-baselines", action="store_true", help="rewrite the visual baselines this run touches")
    p.set_defaults(func=cmd)


def select(journeys: list[Journey], tags: list[str]) -> list[Journey]:
    if not tags:
        return journeys
    return [j for j in journeys if set(j.tags) & set(tags)]


def configured_appium_url(config: Config) -> tuple[str, str] | None:
    """(URL, where it was set) of the Appium server the user configured, or None when
    nobody did (then only the default local server would be tried)."""
    env = os.environ.get("PATROL_APPIUM_URL")
    if env:
        if not env.startswith(("http://", "https://")):
            raise ConfigError(f"PATROL_APPIUM_URL={env!r}: expected an http:// or https:// URL")
        return env.rstrip("/"), "PATROL_APPIUM_URL"
    url = config.settings.appium.url
    if url is None:
        return None
    try:
        return interpolate(url).rstrip("/"), "patrol.yaml appium.url"
    except MissingVariable as e:
        raise config.problem(("appium", "url"), str(e)) from None


def needs_unconfigured_appium(journey: Journey, config: Config, explicit: set[Path]) -> bool:
    """An app journey found in a folder, with no Appium server configured for it: a
    first ``patrol run`` must not fail for want of a server nobody set up. Named
    files always run (and say plainly when the server is not there)."""
    if journey.target != Target.APP or Path(journey.file).resolve() in explicit:
        return False
    if configured_appium_url(config) is not None:
        return False
    device = config.settings.appium.devices.get(str(journey.options.get("appium_device") or ""))
    return device is None or device.url is None


def cmd(args: argparse.Namespace) -> int:
    from .. import console
    from ..application.core import Patrol
    from ..application.startup import open_state, start_browser_while
    from ..config import load_config
    from ..journey.loader import load_all, project_budgets
    from ..runner import Runner, RunOptions
    from .validate import device_problems

    config = load_config(args.config)
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise InputError(f"--base-url {args.base_url!r}: expected an http:// or https:// URL")
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError("--concurrency must be 1 or more")
    concurrency = args.concurrency or config.settings.concurrency
    paths = args.paths or [str(config.journeys_dir)]
    journeys = select(load_all(paths, budgets=project_budgets(config)), args.tag)
    if problems := device_problems(config, journeys):  # steps a patrol.yaml device cannot do: before starting
        raise InputError("\n".join(map(str, problems)), problems)
    if not journeys:
        raise InputError(f"no journey has any of the tags {', '.join(args.tag)}")
    explicit = {Path(p).resolve() for p in paths if not Path(p).is_dir()}
    set_aside = [j for j in journeys if needs_unconfigured_appium(j, config, explicit)]
    for j in set_aside:
        console.say(f"{console.safe(j.name)} ({console.safe(j.file)}) [yellow]not run[/]: {NEEDS_APPIUM}")
    journeys = [j for j in journeys if j not in set_aside]
    if not journeys:
        raise InputError(f"no journey to run: every one found is an app journey that {NEEDS_APPIUM}, "
                         "or name the journey files to run them against the default local server")
    if any(j.target == "web" for j in journeys):
        from ..drivers.web._remote import endpoint_of

        endpoint_of(config)  # a browser.connect bad once ${...} is filled: exit 2 before any journey starts
    reports_root = config.reports_dir
    options = RunOptions(
        output=Path(args.output) if args.output else None,
        reports_root=reports_root,
        base_url=args.base_url,
        headed=args.headed,
        concurrency=concurrency,
        update_baselines=args.update_baselines,
    )
    runner = Runner(config, options, [console.ConsoleProgress(concurrent=options.concurrency > 1)])
    # One event loop for the whole run: Chromium starts while the state database opens.
    with asyncio.Runner() as loop:
        # Incidents (state database, receivers) are set up before patrolling, so a bad
        # receiver config stops the run at once rather than after it.
        incidents = loop.run(start_browser_while(runner, journeys, lambda: open_state(config)))
        outcome = Patrol(runner, incidents=incidents, call=loop.run).run(journeys)
    console.say(f"report: [bold]{console.safe(outcome.run_dir / 'index.html')}[/]")
    return outcome.exit_code
