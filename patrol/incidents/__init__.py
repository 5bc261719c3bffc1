"""Incidents: what on-call acts on. Findings from runs are turned into incidents
(fingerprinted, confirmed, de-duplicated, resolved, flapping-aware) by small services
over the state store: the policy (``policy``, pure), the lifecycle that applies it
(``lifecycle``), the run history (``runs``), the event log (``events``), the outbox
(``outbox``) and the read queries (``queries``), assembled by ``service.IncidentService``;
the events it writes are delivered by ``patrol.notify``."""
