from __future__ import annotations

from ..errors import EXIT_INPUT
from ..journey import load_all


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check journey files; print every problem as file:line:column: field: message")
    p.add_argument("paths", nargs="+", metavar="PATH", help="journey files or folders")
    p.set_defaults(func=cmd)


def cmd(args) -> int:
    from .. import console

    journeys = load_all(args.paths)  # raises JourneyError with every problem
    for j in journeys:
        console.say(f"[green]ok[/] {console.safe(j.file)}: {console.safe(j.name)}, {len(j.steps)} steps")
    return 0 if journeys else EXIT_INPUT
