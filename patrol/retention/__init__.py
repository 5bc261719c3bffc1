"""Retention: how long runs, report folders, screenshots and deliveries are kept. The feature owns
its section of patrol.yaml (``settings``: ``retention:``, read as ``config.settings[RETENTION]``) and
the pruning (``prune``: the nightly job ``patrol schedule`` runs, ``patrol schedule --prune``, and the
free space made before each run) with its queries (``storage``: old runs, what was pruned of them,
old deliveries and events; the tables are the state database's, in ``store/schema.py``).

Nothing is imported here, so reading patrol.yaml (which imports ``settings``) loads no database code."""
