"""``python -m patrol.demo [--host H] [--port N] [--fault NAME[=VALUE]]...``"""

from __future__ import annotations

import argparse
import sys

from .faults import FAULTS, parse_fault
from .server import serve_forever


def main(argv: list[str] | None = None) -> int:
    faults_help = "\n".join(f"  {name}: {text}" for name, text in FAULTS.items())
    parser = argparse.ArgumentParser(
        prog="python -m patrol.demo",
        description="Serve the Patrol demo bank (a Chinese-language fintech front end).",
        epilog="faults:\n" + faults_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8800, help="port (default 8800; 0 = any free port)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]",
                        help="switch a fault on (repeatable)")
    parser.add_argument("--otlp", metavar="URL", help="export a server span per request over OTLP/HTTP to URL "
                                                      "(default: $PATROL_DEMO_OTLP)")
    args = parser.parse_args(argv)
    for spec in args.fault:
        try:
            parse_fault(spec)
        except ValueError as e:
            parser.error(str(e))
    try:
        serve_forever(args.host, args.port, args.fault, args.otlp)
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
