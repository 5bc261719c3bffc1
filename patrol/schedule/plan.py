"""What the scheduler will do: every schedule (patrol.yaml and journey files) with
the journeys it runs, the concurrency, retention, and the files to watch for changes.

Built whole or not at all: a reload with a mistake in patrol.yaml or a journey keeps
the plan that was running (and says what is wrong, with ``file:line:column``).

Selection (patrol.yaml ``journeys:``): each entry is a journey file, a folder, a glob
(relative to patrol.yaml), or the name of a journey in the journeys folder; ``tags:``
then keeps those with any of the tags. Without ``journeys:`` a schedule takes the whole
journeys folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..config.schedules import ScheduleSpec
from ..errors import JourneyError, Problem
from ..journey.loader import JOURNEY_SUFFIXES, discover, load_journey, project_budgets
from ..journey.model import Budgets, Journey
from ..retention.prune import prune_spec
from ..retention.settings import RETENTION, RetentionSettings
from .settings import journey_schedule, parse_schedules


@dataclass
class Plan:
    config: Config
    specs: dict[str, ScheduleSpec]  # job id -> schedule (disabled ones too)
    selected: dict[str, list[Journey]]  # job id -> the journeys it runs
    concurrency: int
    retention: RetentionSettings
    prune: ScheduleSpec | None
    reports_root: Path
    watched: list[Path] = field(default_factory=list)

    @property
    def active(self) -> list[ScheduleSpec]:
        return [s for s in self.specs.values() if s.enabled]

    def lookup(self, job_id: str) -> tuple[ScheduleSpec | None, list[Journey]]:
        return self.specs.get(job_id), list(self.selected.get(job_id, []))


class _Loader:
    """Loads each journey file once (the same Journey for every schedule naming it)."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.by_file: dict[Path, Journey] = {}
        self.problems: list[Problem] = []

    def file(self, path: Path) -> Journey | None:
        key = path.resolve()
        if key not in self.by_file:
            try:
                self.by_file[key] = load_journey(path, budgets=self.budgets)
            except JourneyError as e:
                self.problems.extend(e.problems)
                return None
        return self.by_file[key]

    def folder(self, path: Path) -> list[Journey]:
        return [j for f in discover([str(path)]) if (j := self.file(f)) is not None]


def build_plan(config: Config) -> Plan:
    concurrency = config.settings.concurrency
    retention = config.settings[RETENTION]
    specs = parse_schedules(config)
    loader = _Loader(project_budgets(config))
    folder = config.journeys_dir
    catalog = loader.folder(folder) if folder.is_dir() else []
    if loader.problems:
        raise JourneyError("\n".join(map(str, loader.problems)), loader.problems)
    by_name: dict[str, Journey] = {}
    for j in catalog:
        if j.name in by_name:
            p = Problem(j.file, 1, 1, "name", f"journey name '{j.name}' is also used by {by_name[j.name].file}")
            raise JourneyError(str(p), [p])
        by_name[j.name] = j

    selected: dict[str, list[Journey]] = {}
    out: dict[str, ScheduleSpec] = {}
    for spec in specs:
        selected[spec.job_id] = _select(config, spec, loader, folder, catalog, by_name)
        out[spec.job_id] = spec
    for j in catalog:
        own = journey_schedule(j)
        if own is not None:
            out[own.job_id] = own
            selected[own.job_id] = [j]
    watched = [Path(config.file).resolve()] if config.file else []
    watched += sorted(loader.by_file)
    return Plan(config, out, selected, concurrency, retention, prune_spec(retention), config.reports_dir, watched)


def _select(config: Config, spec: ScheduleSpec, loader: _Loader, folder: Path, catalog: list[Journey],
            by_name: dict[str, Journey]) -> list[Journey]:
    picked: list[Journey] = []
    if not spec.journeys:
        if not folder.is_dir():
            raise config.problem(spec.path, f"no journeys: the journeys folder {folder} does not exist; "
                                            "give journeys: [files, folders or names]")
        picked = list(catalog)
    for i, entry in enumerate(spec.journeys):
        where = spec.path + ("journeys", i)
        path = config.path(entry)
        if any(ch in entry for ch in "*?["):
            files = sorted(p for p in config.root.glob(entry) if p.suffix in JOURNEY_SUFFIXES and p.is_file())
            if not files:
                raise config.problem(where, f"the pattern {entry!r} matches no journey file")
            found: list[Journey | None] = [loader.file(f) for f in files]
        elif path.is_dir():
            found = list(loader.folder(path))
            if not found and not loader.problems:
                raise config.problem(where, f"the folder {entry!r} holds no journey files (*.yaml)")
        elif path.is_file():
            found = [loader.file(path)]
        elif entry in by_name:
            found = [by_name[entry]]
        else:
            raise config.problem(where, f"{entry!r} is neither a journey file, a folder, a glob nor the name of a journey "
                                        f"in {folder}")
        if loader.problems:
            raise JourneyError("\n".join(map(str, loader.problems)), loader.problems)
        picked += [j for j in found if j is not None]
    if spec.tags:
        picked = [j for j in picked if set(j.tags) & set(spec.tags)]
    unique: dict[str, Journey] = {}
    for j in picked:
        other = unique.get(j.name)
        if other is not None and Path(other.file).resolve() != Path(j.file).resolve():
            raise config.problem(spec.path, f"selects two journeys named '{j.name}': {other.file} and {j.file}")
        unique[j.name] = j
    if not unique:
        tags = f" with the tags {', '.join(spec.tags)}" if spec.tags else ""
        raise config.problem(spec.path, f"selects no journey{tags}")
    return list(unique.values())
