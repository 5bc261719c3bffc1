"""Journey files -> validated journey model."""

from .loader import JOURNEY_KEYS, STEP_KEYS, discover, journey_key, load_all, load_journey, parse_text, step_key
from .model import DEVICES, Budgets, Device, Journey, Locator, Step

__all__ = [
    "DEVICES", "Budgets", "Device", "Journey", "Locator", "Step", "JOURNEY_KEYS", "STEP_KEYS",
    "discover", "journey_key", "load_all", "load_journey", "parse_text", "step_key",
]
