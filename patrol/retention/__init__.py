"""Retention: how long runs, report folders, screenshots and deliveries are kept. The feature owns
its section of patrol.yaml (``settings``: ``retention:``, read as ``config.settings[RETENTION]``) and
the pruning (``prune``: the nightly job ``patrol schedule`` runs, ``patrol schedule --prune``, and the
free space made before each run). Its queries live with the tables they read (``store.history``,
``store.incident_repo``, ``store.outbox_repo``): the run records are shared with history and incidents.

Nothing is imported here, so reading patrol.yaml (which imports ``settings``) loads no database code."""
