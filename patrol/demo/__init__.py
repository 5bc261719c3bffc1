"""The demo bank Patrol patrols in its demo and tests (see ``patrol.demo.server``)."""

from .data import DEFAULT_PASSWORD, DEMO_USER
from .faults import FAULTS, FaultSet, parse_fault
from .server import DemoBank, serve_forever

__all__ = ["DemoBank", "serve_forever", "FAULTS", "FaultSet", "parse_fault", "DEMO_USER", "DEFAULT_PASSWORD"]
