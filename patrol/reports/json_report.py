"""``report.json``: the machine-readable record of a run (documented in the README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..results import RunResult
from ..secrets import MASKER

SCHEMA_VERSION = 1


def to_dict(run: RunResult) -> dict[str, Any]:
    d = run.to_dict()
    d = {"schema_version": SCHEMA_VERSION, "patrol_version": __version__, **d}
    for j in d["journeys"]:
        j["findings_count"] = sum(len(s["findings"]) for s in j["steps"])
    masked: dict[str, Any] = MASKER.mask_obj(d)
    return masked


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(MASKER.mask(text), encoding="utf-8")
    tmp.replace(path)


def write(run: RunResult, run_dir: Path) -> None:
    write_text_atomic(run_dir / "report.json", json.dumps(to_dict(run), ensure_ascii=False, indent=2))


def read(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    return data
