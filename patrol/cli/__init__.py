"""Command line. Each command is one module with ``add_parser(subparsers)`` that sets
``func``; to add a command, add its module name to ``COMMANDS``.

Every command module is imported to build the parser, so a command module imports the
machinery it runs (runner, browsers, state database, scheduler...) inside its functions:
``patrol --help`` and each command load only what they use."""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading

from .. import __version__
from ..errors import EXIT_INPUT, EXIT_ROBOT, InputError, PatrolError, RobotError

COMMANDS = ("run", "validate", "demo", "schema", "baseline", "incidents", "deliveries", "schedule", "doctor", "record", "serve",
            "users", "maintenance", "worker", "fleet")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patrol", description="A synthetic user that patrols your app like a customer.")
    parser.add_argument("--version", action="version", version=f"patrol {__version__}")
    parser.add_argument("--config", metavar="FILE", help="patrol.yaml to use (default: ./patrol.yaml, or $PATROL_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for command in sub.choices.values():
        _accept_config_anywhere(command)
    return parser


def _accept_config_anywhere(parser: argparse.ArgumentParser) -> None:
    """`patrol run --config X` and `patrol --config X run` both work."""
    try:
        parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="patrol.yaml to use")
    except argparse.ArgumentError:
        pass  # the command declares its own
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_config_anywhere(child)


def main(argv: list[str] | None = None) -> int:
    from .. import console, plugins

    plugins.load()  # the composition root: every action, check and journey key registered
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        if e.problems:
            for p in e.problems:
                console.plain_error(str(p))
        else:
            console.error(str(e))
        return EXIT_INPUT
    except RobotError as e:
        console.error(f"the robot could not work ({e.reason}): {e}")
        return EXIT_ROBOT
    except PatrolError as e:
        console.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except Exception as e:  # a bug in Patrol itself: say so plainly, keep the trace for debugging
        if os.environ.get("PATROL_DEBUG"):
            raise
        console.error(f"internal error (a bug in Patrol, not in your app): {type(e).__name__}: {e}; set PATROL_DEBUG=1 for the traceback")
        return EXIT_ROBOT


if __name__ == "__main__":
    sys.exit(main())


def exit_fast(code: int) -> None:
    """Exit once everything is said and written, without the interpreter's teardown:
    freeing every module of a `patrol run` (OpenCV, NumPy, SQLAlchemy, Playwright)
    costs 0.1-0.2 s of a run that is otherwise over. Exit handlers still run (the
    state database is closed by one) and output is flushed; a process with other
    threads still working, or output that cannot be flushed, exits the ordinary way."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if others:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed pipe: let the ordinary exit report it as it always did
    os._exit(code)



def entry() -> None:
    """The `patrol` command and `python -m patrol`: ``main`` then ``exit_fast``."""
    exit_fast(main())
