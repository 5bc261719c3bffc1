"""The fleet: Patrol from many machines on Celery (Redis broker) and a shared state
database (PostgreSQL). Nothing here loads unless patrol.yaml has a ``fleet:`` section.

- ``app``: the Celery application, queue routing (``web``, ``app``, ``app:<device>``);
- ``dispatch``: the scheduler's side: each firing becomes one task per journey;
- ``leader``: one active scheduler (a Redis lock with expiry, renewed), standbys wait;
- ``worker``: ``patrol worker``: a task runs one journey through the application core;
- ``status``: ``patrol fleet status``.

Exactly one recorded run per firing: ``patrol.store.fleet_repo`` keeps one row per
firing with the lease of the worker running it, and every attempt at it.
"""
