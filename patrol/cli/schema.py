from __future__ import annotations

import argparse
import json

from ..journey.schema import build_schema


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of journey files (for editors)")
    p.set_defaults(func=cmd)


def cmd(args: argparse.Namespace) -> int:
    print(json.dumps(build_schema(), ensure_ascii=False, indent=2))
    return 0
