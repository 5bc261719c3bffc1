"""Run history: each run, its attempts (with their verdict and fingerprints) and their steps.

Its writes take the caller's connection, so a run and the incident changes it causes are
one transaction (``lifecycle.py``); the tables and their queries are ``store/history.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from ..core.vocabulary import Outcome
from ..results import JourneyResult, RunResult
from ..store import history
from .fingerprint import observations
from .policy import outcome


class RunHistory:
    """What the runs were, as the flapping rule, the console and retention read it."""

    def __init__(self, group_by: str = "cause") -> None:
        self.group_by = group_by  # how the attempts' fingerprints are taken (as the incidents group)

    @staticmethod
    def is_recorded(conn: Connection, run_id: str) -> bool:
        return history.is_recorded(conn, run_id)

    def record(self, conn: Connection, run: RunResult, groups: Sequence[Sequence[JourneyResult]], now: datetime) -> None:
        """The run with every attempt (``groups``: per journey, first attempt first)."""
        history.record_run(conn, run, now, self.attempts(groups))

    def attempts(self, groups: Sequence[Sequence[JourneyResult]]) -> list[history.Attempt]:
        return [history.Attempt(j, j is group[-1], outcome(j), list(observations(j, self.group_by)))
                for group in groups for j in group]

    @staticmethod
    def recent_outcomes(conn: Connection, latest: JourneyResult, limit: int) -> list[Outcome]:
        """The journey's last ``limit`` healthy/failing verdicts on its device, newest first."""
        return history.recent_outcomes(conn, latest.name, latest.target, latest.device, limit)
