from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of journey files (for editors)")
    p.set_defaults(func=cmd)


def cmd(args) -> int:
    from ..journey.schema import build_schema

    print(json.dumps(build_schema(), ensure_ascii=False, indent=2))
    return 0
