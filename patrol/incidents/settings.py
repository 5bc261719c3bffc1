"""The ``incidents`` and ``public_url`` settings, parsed with the rest of patrol.yaml
at load (``patrol.config.incidents`` has the section's reference)."""

from __future__ import annotations

from ..config import Config
from ..config.incidents import DeliverySettings, FlappingSettings, IncidentSettings


def incident_settings(config: Config) -> IncidentSettings:
    return config.incidents


def public_url(config: Config) -> str | None:
    return config.public_url


__all__ = ["DeliverySettings", "FlappingSettings", "IncidentSettings", "incident_settings", "public_url"]
