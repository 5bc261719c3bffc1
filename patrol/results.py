"""What a run produced: pure data, written by the runner, read by reports,
incidents and the state store. Nothing here does I/O.

RunResult -> JourneyResult -> StepResult -> Finding
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .causes import Cause
from .core.jsontypes import JsonObject, json_object
from .core.vocabulary import Kind, Reason, Status, Target

# Short names for the typed values, kept because every stage speaks them.
BREAKPOINT, STALL, RENDER = Kind.BREAKPOINT, Kind.STALL, Kind.RENDER
KINDS = tuple(Kind)
PASSED, FAILED, SKIPPED, ERROR, INTERRUPTED, RUNNING = (
    Status.PASSED, Status.FAILED, Status.SKIPPED, Status.ERROR, Status.INTERRUPTED, Status.RUNNING)


@dataclass(kw_only=True)
class Finding:
    kind: Kind
    reason: Reason  # machine-readable, e.g. "request_failed", "over_budget"
    message: str  # plain words for a person
    # What shows it, for a person and for the code that groups and folds findings (read
    # through ``core.jsontypes``); JSON once the step closes.
    evidence: dict[str, object] = field(default_factory=dict)
    # Fatal findings end the journey (the flow cannot go on).
    fatal: bool = False
    # What explains it (a request, a file, a page error...; the step itself when nothing
    # does): incidents group by it. ``patrol.causes``.
    cause: Cause = field(default_factory=Cause.step)

    def __post_init__(self) -> None:
        # Coerce plain strings (from the state database, a driver's ActionFailed) so a
        # misspelt kind or reason fails here, where it was made, not in a report.
        self.kind = Kind(self.kind)
        self.reason = Reason(self.reason)
        if not isinstance(self.cause, Cause):
            self.cause = Cause.from_dict(self.cause)

    def to_dict(self) -> JsonObject:
        d = json_object(asdict(self))
        d["cause"] = json_object(self.cause.to_dict())
        return d


@dataclass
class StepResult:
    index: int  # 1-based, as a person counts steps
    name: str
    action: str
    status: Status = Status.PASSED  # passed / failed / skipped (running while it runs)
    duration_ms: float | None = None
    budget_ms: float | None = None
    screenshot: str | None = None  # path relative to the run folder
    url: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # Extra artefacts (diff images, OCR text...) keyed by name; paths relative to the run folder.
    artifacts: dict[str, object] = field(default_factory=dict)
    # What the journey language decided (a condition not met, an optional step that
    # failed): plain words, never findings.
    notes: list[str] = field(default_factory=list)
    runs: int = 0  # times the step ran (a step in a repeat runs several times; 0: never)
    stored: dict[str, str] = field(default_factory=dict)  # ``store:`` values read here (secret ones masked)
    phase: str = "steps"  # setup | steps | teardown

    @property
    def key(self) -> str:
        """Stable identity of the step inside its journey: its name, else its index."""
        return self.name or f"#{self.index}"


@dataclass
class JourneyResult:
    name: str
    file: str
    target: Target = Target.WEB
    device: str = "desktop"
    tags: list[str] = field(default_factory=list)
    status: Status = Status.PASSED  # passed / failed / error / interrupted
    started_at: str | None = None
    duration_ms: float | None = None
    steps: list[StepResult] = field(default_factory=list)
    # Set when the robot itself failed; then status is "error" and there are no app findings.
    robot_error: dict[str, object] | None = None
    attempt: int = 1
    # ``teardown:`` steps, apart: their failures never change the journey's status.
    teardown: list[StepResult] = field(default_factory=list)
    # The browser trace (``playwright show-trace``), relative to the run folder; None when not kept.
    trace: str | None = None
    # The OpenTelemetry trace of this attempt (``tracing:``): its id, and where to open it (``tracing.link``).
    trace_id: str | None = None
    trace_link: str | None = None

    @property
    def teardown_status(self) -> Status | None:
        """None without a teardown; failed when any of its steps failed."""
        if not self.teardown:
            return None
        if any(s.status in (Status.FAILED, Status.ERROR) for s in self.teardown):
            return Status.FAILED
        return Status.PASSED if any(s.runs for s in self.teardown) else Status.SKIPPED

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.steps for f in s.findings]


@dataclass
class RunResult:
    run_id: str
    started_at: str
    status: Status = Status.PASSED  # passed / failed / error
    finished_at: str | None = None
    duration_ms: float | None = None
    journeys: list[JourneyResult] = field(default_factory=list)
    run_dir: str | None = None  # absolute path of the run folder
    listed: bool = True  # the run folder sits in the reports root, whose index.html lists it (not --output)
    # What went wrong beside the journeys and changed no verdict (spans a collector did not take).
    warnings: list[str] = field(default_factory=list)

    def latest(self) -> list[JourneyResult]:
        """The last attempt of each journey (confirmation reruns come after the first)."""
        last: dict[str, JourneyResult] = {}
        for j in self.journeys:
            last[j.name] = j
        return list(last.values())

    def compute_status(self) -> Status:
        # The verdict is the latest attempt of each journey: a blip that a confirmation
        # rerun did not reproduce does not fail the run (both attempts stay recorded).
        statuses = {j.status for j in self.latest()}
        if ERROR in statuses:
            self.status = ERROR
        elif FAILED in statuses or INTERRUPTED in statuses:
            self.status = FAILED
        else:
            self.status = PASSED
        return self.status

    def to_dict(self) -> JsonObject:
        d = json_object(asdict(self))
        d.pop("run_dir", None)
        d.pop("listed", None)
        return d
