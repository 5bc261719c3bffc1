"""Incidents: what on-call acts on. Findings from runs are turned into incidents
(fingerprinted, confirmed, de-duplicated, resolved, flapping-aware) by
``service.IncidentService``; the events it writes are delivered by ``patrol.notify``."""
