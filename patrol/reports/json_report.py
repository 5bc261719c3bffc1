"""``report.json``: the machine-readable record of a run (documented in the README)."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..core.jsontypes import JsonObject, JsonValue, json_list, json_objects
from ..core.urls import mask_url
from ..results import RunResult
from ..secrets import MASKER
from .problems import problems

SCHEMA_VERSION = 1
_URL_KEYS = {"url", "src", "page_url"}


def to_dict(run: RunResult) -> JsonObject:
    # What broke first, one entry per problem (grouped by cause), then every journey.
    d: JsonObject = {"schema_version": SCHEMA_VERSION, "patrol_version": __version__, "problems": [*problems(run)]}
    d.update(run.to_dict())
    attempts: dict[str, list[dict[str, object]]] = {}
    for j in json_objects(d, "journeys"):
        j["findings_count"] = sum(len(json_list(s, "findings")) for s in json_objects(j, "steps"))
        attempts.setdefault(str(j["name"]), []).append(j)
    for group in attempts.values():
        for j in group:
            j["attempts"] = len(group)
        if len(group) > 1:
            group[-1]["confirmation"] = confirmation(group)
    masked: JsonObject = MASKER.mask_obj(_mask_urls(d))
    return masked


def _mask_urls(obj: JsonValue) -> JsonValue:
    """Token-like query values hidden in every URL the report names (a step's page, a
    request, a finding's), as the request list already is: a link with a session
    token must not become readable in a shared report."""
    if isinstance(obj, dict):
        return {k: mask_url(v) if k in _URL_KEYS and isinstance(v, str) else _mask_urls(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mask_urls(v) for v in obj]
    return obj


def confirmation(attempts: list[dict[str, object]]) -> str:
    """What the confirmation reruns said about the first attempt's failure, in words."""
    def seen(j: dict[str, object]) -> set[tuple[str, str]]:
        return {(str(s["name"] or f"#{s['index']}"), str(f["reason"])) for s in json_objects(j, "steps")
                for f in json_objects(s, "findings")}

    first, last = attempts[0], attempts[-1]
    if last["status"] == "passed":
        return "the failure did not repeat on the confirmation rerun: treated as a blip, no incident"
    common = set.intersection(*(seen(j) for j in attempts))
    if not common:
        return ("the confirmation rerun failed differently: neither failure was confirmed, "
                "so neither opens an incident (look at both attempts)")
    if common != seen(first) or common != seen(last):
        return "confirmed in part: only the findings every attempt showed count for incidents"
    return "confirmed: every attempt showed the same failure"


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(MASKER.mask(text), encoding="utf-8")
    tmp.replace(path)


def write(run: RunResult, run_dir: Path) -> None:
    write_text_atomic(run_dir / "report.json", json.dumps(to_dict(run), ensure_ascii=False, indent=2))


def read(run_dir: Path) -> dict[str, object]:
    data: object = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{run_dir}/report.json is not a JSON object")
    return data
