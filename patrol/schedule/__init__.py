"""Nightly and every-few-minutes patrols: ``patrol schedule`` (a long-running
service on APScheduler 3.11 with its job store in the state database).

- ``settings``: ``schedules:`` in patrol.yaml and ``schedule:`` in journey files;
- ``triggers``: cron/interval triggers with time zones, active windows and jitter;
- ``plan``: which journeys each schedule runs;
- ``executor``: where a firing runs (the ``Executor`` interface); ``local``: here, through
  the application core (the fleet's executor lives in ``patrol.fleet.scheduling``);
- ``service``: the scheduler service, a thin composition of ``jobs`` (job store and
  sync), ``overlap`` (no journey twice at once), ``control`` (signals, file watching),
  ``sides`` (instance lock, dispatcher thread, metrics endpoint), ``robot`` (the
  browsers' asyncio loop), ``index_writer`` and ``service_log``; time comes from an
  injected ``patrol.core.clock.Clock``.
"""
