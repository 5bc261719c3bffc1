"""The orchestrator and its plumbing."""

from .runner import SCREEN_FILTERS, Listener, RunOptions, Runner, new_run_id
from . import redaction  # noqa: F401  (registers the redaction screen filter)

__all__ = ["SCREEN_FILTERS", "Listener", "RunOptions", "Runner", "new_run_id"]
