"""Maintenance windows: patrols run and record, incidents may open, but nothing is sent until the
window ends (then once per incident). The feature owns its section of patrol.yaml (``settings``:
``maintenance:``, read as ``config.settings[MAINTENANCE]``), its queries (``storage``: the windows
made in the console or the CLI and the deliveries they hold) and what windows mean (``windows``:
which cover a journey, holding an event's deliveries, releasing them). The outbox (``notify``) and
the incidents hold and release through it; ``patrol maintenance`` and the console's page manage it.

Nothing is imported here, so reading patrol.yaml (which imports ``settings``) loads no database code."""
