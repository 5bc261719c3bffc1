"""What one step left behind: the raw material checks judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..drivers.base import DriverEvents
from ..journey.placeholders import Scope
from .options import RunOptions

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..core.geometry import Box
    from ..drivers.base import Driver
    from ..errors import ActionFailed
    from ..journey.model import Journey, Step
    from ..ocr.engine import OcrResult
    from ..results import Finding
    from .artifacts import ArtifactStore
    from .cpu_wait import CpuWait
    from .settle import SettleResult


@dataclass
class StepEvidence:
    duration_ms: float = 0.0
    # The longest time one of the robot's own processes waited for a CPU during the
    # action and live checks (cpu_wait.py): time the patrol machine lost, not the app.
    robot_cpu_wait_ms: float | None = None
    cpu_wait: CpuWait | None = field(default=None, repr=False)  # measuring it while the step runs
    url: str = ""
    screenshot_png: bytes | None = None  # already redacted
    events: DriverEvents = field(default_factory=DriverEvents)
    action_error: ActionFailed | None = None  # when the action itself failed
    settle: SettleResult | None = None  # set by the runner when a check asked for a still screen
    # What checks worked out from the screenshot, shared so it is done once per step:
    # OCR readings by the area read (None: the whole screen).
    ocr: dict[Box | None, OcrResult] = field(default_factory=dict, repr=False)
    _image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def image(self) -> np.ndarray | None:
        """The screenshot as an RGBA array, decoded once."""
        if self.screenshot_png is None:
            return None
        if self._image is None:
            from ..core.png import decode_png

            self._image = decode_png(self.screenshot_png)
        return self._image


@dataclass
class JourneyMemory:
    """What the steps of one journey run share: what was already reported (so one
    broken banner is one finding, not one per step) and what the previous step saw."""

    reported: dict[str, set[str]] = field(default_factory=dict)
    forbidden_words: list[str] | None = None  # the forbidden-text list, worked out once
    previous_image: np.ndarray | None = field(default=None, repr=False)  # the last screen read for it
    # The journey's actions are over (only verdicts left): reading several areas at
    # once no longer takes CPU from the browser.
    steps_done: bool = False
    # ``${vars.X}``, ``${run.id}``, ``${random}``...: the values this journey attempt fills in.
    scope: Scope = field(default_factory=Scope)
    # The newest screenshot stored (its path in the run folder): what a page that stopped
    # answering last looked like, when it can no longer be captured.
    last_screenshot: str | None = None


@dataclass
class StepContext:
    """Everything a check may look at for one step."""

    journey: Journey
    step: Step
    driver: Driver
    config: Config
    evidence: StepEvidence
    timeout_ms: float
    artifacts: ArtifactStore
    options: RunOptions = field(default_factory=RunOptions)
    journey_dir: str = ""  # the journey's folder inside the run folder
    findings: list[Finding] = field(default_factory=list)  # found so far at this step
    memory: JourneyMemory = field(default_factory=JourneyMemory)
    # Artefacts a check produced for the report (diff images, OCR text...).
    report: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the step's report says besides findings

    def first_time(self, key: str, value: str) -> bool:
        """True the first time ``value`` is reported under ``key`` in this journey run."""
        seen = self.memory.reported.setdefault(key, set())
        if value in seen:
            return False
        seen.add(value)
        return True
