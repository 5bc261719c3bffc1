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
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

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
    state = config.state
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


class Store:
    """A migrated database. ``write()`` is one transaction that takes the write lock
    at once; ``read()`` is a read-only one."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def display_url(self) -> str:
        return MASKER.mask(self.engine.url.render_as_string(hide_password=True))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(readonly=True) as conn:
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


class StateStoreError(RobotError):
    """The state database cannot be used (unreachable, locked, read-only...): the
    robot's own failure (exit code 3), never an app incident."""

    reason = "state_store"


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


__all__ = ["Store", "StateStoreError", "StateSettings", "open_store", "open_from_config", "state_settings", "schema"]
