"""Patrol: a synthetic user that patrols an app the way its customers see it."""

__version__ = "0.1.0"
