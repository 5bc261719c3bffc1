from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run journeys and write a report")
    p.add_argument("paths", nargs="*", metavar="PATH|DIR", help="journey files or folders (default: journeys/)")
    p.add_argument("--tag", action="append", default=[], metavar="T", help="only journeys with this tag (repeatable: any of)")
    p.add_argument("--base-url", metavar="URL", help="override every journey's base_url")
    p.add_argument("--output", metavar="DIR", help="write the run into exactly this folder (default: reports/<run-id>/)")
    p.add_argument("--headed", action="store_true", help="show the browser window (needs a display)")
    p.add_argument("--concurrency", type=int, metavar="N", help="journeys at once (default: patrol.yaml concurrency, else 1)")
    p.add_argument("--update-baselines", action="store_true", help="rewrite the visual baselines this run touches")
    p.set_defaults(func=cmd)


def select(journeys, tags: list[str]):
    if not tags:
        return journeys
    return [j for j in journeys if set(j.tags) & set(tags)]


def cmd(args) -> int:
    from .. import console
    from ..config import load_config
    from ..journey import load_all
    from ..runner import RunOptions
    from ..service import concurrency_setting, incident_service, patrol_once
    from ..service import reports_root as reports_folder

    config = load_config(args.config)
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise InputError(f"--base-url {args.base_url!r}: expected an http:// or https:// URL")
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError("--concurrency must be 1 or more")
    concurrency = args.concurrency or concurrency_setting(config)
    paths = args.paths or [str(config.path(config.section("journeys", "journeys")))]
    journeys = select(load_all(paths), args.tag)
    if not journeys:
        raise InputError(f"no journey has any of the tags {', '.join(args.tag)}")
    reports_root = reports_folder(config)
    options = RunOptions(
        output=Path(args.output) if args.output else None,
        reports_root=reports_root,
        base_url=args.base_url,
        headed=args.headed,
        concurrency=concurrency,
        update_baselines=args.update_baselines,
    )
    # Incidents (state database, receivers) are set up before patrolling, so a bad
    # receiver config stops the run at once rather than after it.
    incidents = incident_service(config)
    progress = console.ConsoleProgress()
    progress.concurrent = options.concurrency > 1
    outcome = patrol_once(config, journeys, options, incidents=incidents, listeners=[progress])
    console.say(f"report: [bold]{console.safe(outcome.run_dir / 'index.html')}[/]")
    return outcome.exit_code
