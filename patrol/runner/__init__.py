"""The orchestrator and its plumbing."""

from ..step.options import RunOptions
from .runner import Listener, Runner, new_run_id
from .screen_filters import SCREEN_FILTERS, screen_filter

__all__ = ["SCREEN_FILTERS", "Listener", "RunOptions", "Runner", "new_run_id", "screen_filter"]
