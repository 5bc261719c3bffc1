"""Where a run's files go. Paths handed back are relative to the run folder, so a
report folder can be moved or served as a whole."""

from __future__ import annotations

import errno
import os
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
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                raise reports_unavailable(self.run_dir, e) from None
            raise ReportsUnavailable(
                f"cannot write the run folder {self.run_dir}: {e.strerror or type(e).__name__}; check that the "
                "reports location (patrol.yaml reports:) exists and is writable here (a shared location: is it "
                "mounted on this machine?)") from None

    def write(self, relative: str, data: bytes) -> str:
        path = self.run_dir / relative
        tmp = path.with_suffix(path.suffix + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            tmp.replace(path)  # never a half-written file under the real name
        except OSError as e:  # the journey cannot keep its evidence: the robot's failure, not the app's
            tmp.unlink(missing_ok=True)
            raise reports_unavailable(self.run_dir, e) from None
        return relative

    def step_file(self, journey_dir: str, step_index: int, step_key: str, suffix: str) -> str:
        return f"{journey_dir}/{step_index:02d}-{slug(step_key)}{suffix}"


def free_bytes(folder: Path) -> int | None:
    """Free space for an unprivileged writer on the folder's filesystem (its nearest existing parent's)."""
    for candidate in (folder, *folder.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return st.f_bavail * st.f_frsize
    return None


def show_bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def reports_unavailable(folder: Path, e: OSError) -> ReportsUnavailable:
    """The run folder could not be written: which folder, what the disk says, and its free space."""
    free = free_bytes(folder)
    space = f"{show_bytes(free)} free" if free is not None else "free space unknown"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"disk full: the reports folder {folder} has {space}"
        fix = "make room, or let retention make it before each run (patrol.yaml retention: {min_free: 1GB})"
    elif e.errno == errno.EROFS:
        what = f"the reports folder {folder} is on a read-only filesystem ({space})"
        fix = "mount it read-write, or point patrol.yaml reports: elsewhere"
    else:
        what = f"cannot write in the reports folder {folder}: {e.strerror or type(e).__name__} ({space})"
        fix = "check that the reports location (patrol.yaml reports:) exists and is writable here"
    return ReportsUnavailable(f"{what}; the run's evidence could not be stored: {fix}")
