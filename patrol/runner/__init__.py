"""The orchestrator and its plumbing."""

from .runner import SCREEN_FILTERS, Listener, RunOptions, Runner, new_run_id

__all__ = ["SCREEN_FILTERS", "Listener", "RunOptions", "Runner", "new_run_id"]
