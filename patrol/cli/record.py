from __future__ import annotations

import argparse
import re
from pathlib import Path
from urllib.parse import urlsplit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "record", help="use the app in a browser window; what you do is written as a journey",
        description="Open URL in a Chromium window and record clicks, typing, choices, keys (Enter, Tab, Escape) "
        "and navigations as journey steps. Ctrl+C or closing the window writes the journey.",
    )
    p.add_argument("url", metavar="URL", help="the page to start on (http or https); its origin becomes base_url")
    p.add_argument("--output", "-o", metavar="FILE", help="journey file to write (default: journeys/NAME.yaml)")
    p.add_argument("--name", help="journey name: lowercase letters, digits, - and _ (default: from FILE or URL)")
    p.add_argument("--secret", metavar="NAME", help="secret name for the first password field "
                   "(default: from the field, e.g. #password -> PASSWORD); written as ${secret:NAME}")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--cdp-port", type=int, metavar="PORT",
                   help="also open Chromium's DevTools port on 127.0.0.1:PORT (to drive the window from a script)")
    p.set_defaults(func=cmd)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")


def journey_name(args: argparse.Namespace) -> str:
    from ..errors import InputError
    from ..journey.loader import NAME_RE

    if args.name is not None:
        if not NAME_RE.match(args.name):
            raise InputError(f"--name {args.name!r}: use lowercase letters, digits, - and _ (e.g. transfer-in)")
        return str(args.name)
    if args.output:
        return _slug(Path(args.output).stem) or "recorded"
    path = urlsplit(args.url).path.rstrip("/")
    return _slug(path.rpartition("/")[2]) or "recorded"


def check_arguments(args: argparse.Namespace, name: str) -> Path:
    """Everything the person typed, before any browser starts; the output file."""
    from ..errors import InputError
    from ..recorder.steps import SECRET_NAME

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{args.url!r} is not an http(s) URL (e.g. http://127.0.0.1:8800/login)")
    if args.secret is not None and not SECRET_NAME.match(args.secret):
        raise InputError(f"--secret {args.secret!r}: an environment variable name (letters, digits, _)")
    if args.cdp_port is not None and not 1 <= args.cdp_port <= 65535:
        raise InputError(f"--cdp-port {args.cdp_port}: must be 1-65535")
    output = Path(args.output) if args.output else Path("journeys") / f"{name}.yaml"
    if output.suffix not in (".yaml", ".yml"):
        raise InputError(f"--output {output}: a journey file ends in .yaml or .yml")
    if not output.parent.is_dir():
        raise InputError(f"--output {output}: no folder {output.parent}/ to write it in")
    if output.is_dir():
        raise InputError(f"--output {output}: is a folder")
    if output.exists() and not args.force:
        raise InputError(f"--output {output}: already exists (--force to overwrite it)")
    return output


def cmd(args: argparse.Namespace) -> int:
    from datetime import datetime

    from .. import console
    from ..recorder.display import check_display
    from ..recorder.session import SessionOptions, record
    from ..recorder.steps import RecordedStep, Recording, origin
    from ..recorder.writer import render, write_atomically

    name = journey_name(args)
    output = check_arguments(args, name)
    check_display()  # no display and no Xvfb: the person's problem to fix, said before anything starts
    recording = Recording(base_url=origin(args.url), secret=args.secret)

    def save() -> None:
        if recording.steps:
            write_atomically(output, render(name, args.url, recording.base_url, recording.steps, datetime.now()))

    def on_step(step: RecordedStep) -> None:
        where = step.params if isinstance(step.params, str) else step.params.get("selector", "")
        console.say(f"  [green]+[/] {console.safe(step.name)} [dim]{step.action} {console.safe(where)}[/]")

    console.say(f"[bold]recording[/] {console.safe(args.url)}: use the app in the browser window; "
                f"Ctrl+C or closing the window writes {console.safe(output)}")
    options = SessionOptions(args.url, args.cdp_port, on_step, lambda text: console.say(f"  [dim]{console.safe(text)}[/]"))
    why = record(options, recording, save)
    if not recording.steps:
        console.say(f"{console.safe(why)}: nothing was recorded, no file written")
        return 0
    console.say(f"{console.safe(why)}: wrote {console.safe(output)} ({len(recording.steps)} steps); "
                f"check it with `patrol validate {console.safe(output)}`")
    return 0
