"""Where a run's files go. Paths handed back are relative to the run folder, so a
report folder can be moved or served as a whole."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ReportsUnavailable


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^\w.-]+", "-", text, flags=re.UNICODE).strip("-").lower()
    return s[:limit] or "x"


class ArtifactStore:
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # before any journey runs: the robot cannot keep evidence, so it does not patrol
            raise ReportsUnavailable(
                f"cannot write the run folder {self.run_dir}: {e.strerror or type(e).__name__}; check that the "
                "reports location (patrol.yaml reports:) exists and is writable here (a shared location: is it "
                "mounted on this machine?)") from None

    def write(self, relative: str, data: bytes) -> str:
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written file under the real name
        return relative

    def step_file(self, journey_dir: str, step_index: int, step_key: str, suffix: str) -> str:
        return f"{journey_dir}/{step_index:02d}-{slug(step_key)}{suffix}"
