"""The state store: a SQL database (SQLite at ``.patrol/state.db`` by default, any
SQLAlchemy URL by config) that keeps runs, incidents, their events and the
delivery outbox. Migrations (Alembic, ``migrations/``) run on open, so an upgrade
of Patrol never needs a wiped database.

patrol.yaml::

    state:
      url: sqlite:///.patrol/state.db     # relative paths are relative to patrol.yaml
      # url: postgresql+psycopg://patrol:${secret:PG_PASSWORD}@db/patrol
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..config import Config
from ..config.sections import DEFAULT_STATE_URL
from ..errors import RobotError
from ..secrets import MASKER, MissingVariable, interpolate
from . import schema
from .db import is_sqlite, make_engine, migrate

DEFAULT_URL = DEFAULT_STATE_URL


@dataclass
class StateSettings:
    url: str = DEFAULT_URL
    enabled: bool = True


def state_settings(config: Config) -> StateSettings:
    """The ``state`` section (checked at load) with ``${...}`` resolved and a relative
    SQLite path made relative to patrol.yaml."""
    state = config.settings.state
    if not state.enabled:
        return StateSettings(enabled=False)
    try:
        url = interpolate(state.url)
    except MissingVariable as e:
        raise config.problem(("state", "url"), str(e)) from None
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise config.problem(("state", "url"), f"not a database URL: {e}") from None
    if parsed.password:
        MASKER.add(str(parsed.password))
    if is_sqlite(parsed) and parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        parsed = parsed.set(database=str(config.path(parsed.database)))
    return StateSettings(url=parsed.render_as_string(hide_password=False), enabled=True)


class StateStoreError(RobotError):
    """The state database cannot be used (unreachable, locked, read-only...): the
    robot's own failure (exit code 3), never an app incident."""

    reason = "state_store"


class StateStoreUnavailable(StateStoreError):
    """The database went away (restarting, unreachable, connection dropped, pool exhausted): a
    write can be tried again once it is back. Raised at the store's boundary for SQLAlchemy's
    operational, interface and disconnection errors, so no caller sees a driver's exception."""


# What "the database is away" looks like through SQLAlchemy; a constraint or SQL error stays what it is.
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def unavailable(e: Exception) -> bool:
    return isinstance(e, UNAVAILABLE) or (isinstance(e, DBAPIError) and e.connection_invalidated)


class Store:
    """A migrated database. ``write()`` is one transaction that takes the write lock
    at once; ``read()`` is a read-only one. Both are the boundary: a database that is away
    (in the transaction's body too) raises ``StateStoreUnavailable``."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def display_url(self) -> str:
        return MASKER.mask(self.engine.url.render_as_string(hide_password=True))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as e:
            if not unavailable(e):
                raise
            raise self._unavailable(e) from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect().execution_options(readonly=True) as conn:
                with conn.begin():
                    yield conn
        except SQLAlchemyError as e:
            if not unavailable(e):
                raise
            raise self._unavailable(e) from e

    def _unavailable(self, e: Exception) -> StateStoreUnavailable:
        first = MASKER.mask(str(e).splitlines()[0]) if str(e) else type(e).__name__
        return StateStoreUnavailable(f"the state database {self.display_url} is unavailable: {first}")

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    try:
        engine = make_engine(url)
        migrate(engine)
    except (SQLAlchemyError, OSError, ImportError) as e:
        shown = MASKER.mask(make_url(url).render_as_string(hide_password=True))
        hint = " (install its database driver, e.g. pip install 'psycopg[binary]')" if isinstance(e, ImportError) else ""
        raise StateStoreError(f"cannot open the state database {shown}: {MASKER.mask(str(e).splitlines()[0])}{hint}") from e
    return Store(engine)


def open_from_config(config: Config) -> Store:
    return open_store(state_settings(config).url)


__all__ = ["Store", "StateStoreError", "StateStoreUnavailable", "StateSettings",
            "open_store", "open_from_config", "state_settings", "schema"]
