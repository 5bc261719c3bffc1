"""``patrol baseline approve``: promote a finished run's screenshots to baselines.

The command imports what it needs when it runs, so ``patrol --help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("baseline", help="manage visual baselines")
    bsub = p.add_subparsers(dest="baseline_command", metavar="SUBCOMMAND")
    bsub.required = True
    a = bsub.add_parser("approve", help="promote a finished run's screenshots to baselines (no new run)")
    a.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (with report.json)")
    a.add_argument("--journey", action="append", default=[], metavar="J", help="only this journey (repeatable)")
    a.add_argument("--step", action="append", default=[], metavar="S", help="only this step, by name or number (repeatable)")
    a.set_defaults(func=approve)


def approve(args: argparse.Namespace) -> int:
    import json

    from .. import console
    from ..checks.visual import baseline_store
    from ..config import load_config
    from ..visual.approve import approvable_screens, approve_screen

    config = load_config(args.config)
    run_dir = Path(args.run_dir)
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a run folder (no report.json)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{run_dir}/report.json: cannot read: {e}") from None
    store = baseline_store(config)
    approved = 0
    known_journeys = {j["name"] for j in report.get("journeys", [])}
    for name in args.journey:
        if name not in known_journeys:
            raise InputError(f"--journey {name}: not in this run; journeys: {', '.join(sorted(known_journeys))}")
    for screen in approvable_screens(report):
        if args.journey and screen.journey not in args.journey:
            continue
        if args.step and screen.step_name not in args.step and str(screen.step_index) not in args.step:
            continue
        path = approve_screen(store, run_dir, screen)
        console.say(f"approved {console.safe(screen.journey)} step {screen.step_index} "
                    f"({console.safe(screen.step_name)}) -> {console.safe(path)}")
        approved += 1
    if not approved:
        raise InputError("nothing to approve: no step with a visual check matched")
    console.say(f"{approved} baseline(s) approved")
    return 0
