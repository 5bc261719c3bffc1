"""The orchestrator and its plumbing."""

from . import redaction  # noqa: F401  (registers the redaction screen filter)
from .runner import SCREEN_FILTERS, Listener, Runner, RunOptions, new_run_id

__all__ = ["SCREEN_FILTERS", "Listener", "RunOptions", "Runner", "new_run_id"]
