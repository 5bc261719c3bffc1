"""What one step left behind: the raw material checks judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..drivers.base import DriverEvents

if TYPE_CHECKING:
    import numpy as np

    from ..config import Config
    from ..drivers.base import Driver
    from ..journey.model import Journey, Step
    from ..runner.artifacts import ArtifactStore


@dataclass
class StepEvidence:
    duration_ms: float = 0.0
    url: str = ""
    screenshot_png: bytes | None = None  # already redacted
    events: DriverEvents = field(default_factory=DriverEvents)
    action_error: Any = None  # ActionFailed, when the action itself failed
    # Filled lazily by checks and shared between them (decoded image, OCR result...).
    cache: dict[str, Any] = field(default_factory=dict)

    def image(self) -> np.ndarray | None:
        """The screenshot as an RGBA array, decoded once."""
        if self.screenshot_png is None:
            return None
        if "image" not in self.cache:
            from ..visual.compare import decode_png

            self.cache["image"] = decode_png(self.screenshot_png)
        return self.cache["image"]


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
    options: Any = None  # RunOptions
    journey_dir: str = ""  # the journey's folder inside the run folder
    findings: list = field(default_factory=list)  # found so far at this step
    # Per-journey-run memory shared by the steps (e.g. what was already reported,
    # so one broken banner is one finding, not one per step).
    memory: dict[str, Any] = field(default_factory=dict)

    def first_time(self, key: str, value: Any) -> bool:
        seen = self.memory.setdefault(key, set())
        if value in seen:
            return False
        seen.add(value)
        return True
    # Artefacts a check produced for the report (diff images, OCR text...).
    report: dict[str, Any] = field(default_factory=dict)
