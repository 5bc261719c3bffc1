from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the bundled demo bank")
    demo_sub = p.add_subparsers(dest="demo_command", metavar="SUBCOMMAND")
    demo_sub.required = True
    s = demo_sub.add_parser("serve", help="serve the demo bank on 127.0.0.1")
    s.add_argument("--port", type=int, default=8800, help="port (default 8800; 0 picks a free one)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]", help="switch a fault on (repeatable)")
    s.add_argument("--otlp", metavar="URL", help="export a server span per request over OTLP/HTTP to URL "
                                                 "(e.g. http://127.0.0.1:4318; default: $PATROL_DEMO_OTLP)")
    s.set_defaults(func=serve)
    r = demo_sub.add_parser("patrol", help="start the demo bank, run every journey against it, stop it (make demo)")
    r.add_argument("paths", nargs="*", metavar="PATH|DIR", help="journeys (default: journeys/)")
    r.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]", help="switch a fault on (repeatable)")
    r.add_argument("--output", metavar="DIR", help="run folder (default: reports/<run-id>/)")
    r.set_defaults(func=patrol)


def _check_faults(specs: list[str]) -> None:
    """Bad --fault values are the user's input error (exit 2), said before anything starts."""
    from ..demo.faults import parse_fault
    from ..errors import InputError

    for spec in specs:
        try:
            parse_fault(spec)
        except ValueError as e:
            raise InputError(f"--fault {spec}: {e}") from None


def serve(args: argparse.Namespace) -> int:
    from ..demo.server import serve_forever
    from ..errors import InputError

    _check_faults(args.fault)
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: must be 0-65535")
    if args.otlp and not args.otlp.lower().startswith(("http://", "https://")):
        raise InputError(f"--otlp {args.otlp}: expected the http(s) URL of an OTLP/HTTP collector")
    serve_forever(args.host, args.port, args.fault, args.otlp)
    return 0


def patrol(args: argparse.Namespace) -> int:
    """The main job of `make demo`: a real patrol of a real (local) bank."""
    from .. import console
    from ..demo.server import DemoBank
    from . import run

    _check_faults(args.fault)
    import os

    from ..demo import DEFAULT_PASSWORD

    # The bank and the journeys read the same variable; the demo works without set-up.
    os.environ.setdefault("DEMO_PASSWORD", DEFAULT_PASSWORD)
    paths = args.paths
    if not paths:
        # The web journeys at the top of the journeys folder; the app journeys in its
        # subfolders need an Appium server (PATROL_APPIUM_URL=... patrol demo patrol journeys/app).
        from ..config import load_config

        config = load_config(args.config)
        folder = config.journeys_dir
        paths = [str(p) for p in sorted(folder.glob("*.y*ml"))] or [str(folder)]
    with DemoBank(port=0, faults=args.fault) as bank:
        console.say(f"demo bank at [bold]{bank.url}[/]" + (f" with faults {', '.join(args.fault)}" if args.fault else ""))
        run_args = argparse.Namespace(
            config=args.config, paths=paths, tag=[], base_url=bank.url, output=args.output,
            headed=False, concurrency=None, update_baselines=False,
        )
        return run.cmd(run_args)
