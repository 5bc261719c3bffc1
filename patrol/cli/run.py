from __future__ import annotations

import asyncio
from pathlib import Path

from ..errors import EXIT_FINDINGS, EXIT_OK, EXIT_ROBOT, InputError


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
    from ..reports import write_all
    from ..reports.index import write_index
    from ..runner import RunOptions, Runner

    config = load_config(args.config)
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        raise InputError(f"--base-url {args.base_url!r}: expected an http:// or https:// URL")
    if args.concurrency is not None and args.concurrency < 1:
        raise InputError("--concurrency must be 1 or more")
    paths = args.paths or [str(config.path(config.section("journeys", "journeys")))]
    journeys = select(load_all(paths), args.tag)
    if not journeys:
        raise InputError(f"no journey has any of the tags {', '.join(args.tag)}")
    reports_root = config.path(config.section("reports", "reports"))
    options = RunOptions(
        output=Path(args.output) if args.output else None,
        reports_root=reports_root,
        base_url=args.base_url,
        headed=args.headed,
        concurrency=args.concurrency or int(config.section("concurrency", 1) or 1),
        update_baselines=args.update_baselines,
    )
    # Incidents (state database, receivers) are set up before patrolling, so a bad
    # receiver config stops the run at once rather than after it.
    incidents = _incident_service(config)
    progress = console.ConsoleProgress()
    progress.concurrent = options.concurrency > 1
    runner = Runner(config, options, [progress])
    run = asyncio.run(runner.run(journeys))
    run_dir = Path(run.run_dir)
    if incidents is not None:
        # New failures are confirmed by immediate reruns before anyone is paged.
        for attempt in range(2, 2 + incidents.confirm_count):
            names = set(incidents.journeys_to_confirm(run))
            if not names:
                break
            console.say(f"confirming {len(names)} failed journey(s) with a rerun before opening incidents")
            asyncio.run(runner.confirm(run, [j for j in journeys if j.name in names], attempt=attempt))
    write_all(run, run_dir)
    if incidents is not None:
        _record_and_notify(incidents, run)
    if run_dir.resolve().parent == reports_root.resolve():
        write_index(reports_root)
    console.say(f"report: [bold]{console.safe(run_dir / 'index.html')}[/]")
    if run.status == "error":
        return EXIT_ROBOT
    return EXIT_FINDINGS if run.status == "failed" else EXIT_OK


def _incident_service(config):
    """The incident lifecycle + delivery (None when ``state: false`` in patrol.yaml)."""
    from ..incidents.service import IncidentService

    if not IncidentService.enabled(config):
        return None
    return IncidentService.from_config(config)


def _record_and_notify(incidents, run) -> None:
    """Record the run in the state database (incident changes and their outbox rows
    in one transaction), then send what can be sent before exiting, bounded."""
    from .. import console
    from ..incidents.display import describe_flush, describe_record

    result = incidents.record_run(run)
    line = describe_record(result, incidents)
    if line:
        console.say(line)
    try:
        stats = incidents.flush_deliveries()
    except Exception as e:  # the outbox keeps them: the next run or `patrol deliveries flush` sends them
        console.error(f"could not send notifications now ({type(e).__name__}: {e}); they stay queued")
        return
    line = describe_flush(stats)
    if line:
        console.say(line)
