"""Opening the state database: engine set-up and migrations on open."""

from __future__ import annotations

import ast
import atexit
import functools
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config as AlembicConfig

# Alembic is imported where it is used: only opening a database needs it.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_migrated: set[str] = set()
WRITE_LOCK = 727073  # PostgreSQL advisory lock of write transactions (727072: migrations)
_migrate_lock = threading.Lock()
# Every engine, closed at exit: a SQLite database's last connection folds its WAL back
# into the file then, and `python -m patrol` skips the interpreter's teardown.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _dispose_all() -> None:
    for engine in list(_engines):
        engine.dispose()


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def make_engine(url: str | URL) -> Engine:
    url = make_url(url)
    if is_sqlite(url):
        db = url.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _engines.add(engine)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:  # pragma: no cover - exercised by every test
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
            # so that every write transaction can take the write lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if db and db != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:  # pragma: no cover
            # Writes take the write lock up front (BEGIN IMMEDIATE): two patrol processes
            # never both read then both try to write. Reads (``readonly``) do not.
            if conn.get_execution_options().get("readonly"):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if url.get_backend_name() == "postgresql":
        @event.listens_for(engine, "begin")
        def _on_pg_begin(conn: Connection) -> None:
            # PostgreSQL's form of BEGIN IMMEDIATE: a write transaction first takes one
            # transaction-scoped advisory lock, so two patrol processes never both read
            # then both insert the same incident or journey state (a unique violation).
            if not conn.get_execution_options().get("readonly"):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
    _engines.add(engine)
    return engine


# Alembic (~250 ms to import) loads inside these functions: only when a database is opened or migrated.
def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # there is always a migration
    return head


_REVISION = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def known_head() -> str | None:
    """The newest migration's id, read from the migration files without importing
    Alembic (~250 ms); None when they are not one plain chain (Alembic decides then)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
            found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
            if "revision" not in found:
                continue
            revision, parent = ast.literal_eval(found["revision"]), ast.literal_eval(found.get("down_revision", "None"))
            if not isinstance(revision, str) or not (parent is None or isinstance(parent, str)):
                return None  # a merge or something unusual
            revisions.add(revision)
            if parent is not None:
                parents.add(parent)
    except (OSError, ValueError, SyntaxError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database already is at the newest migration, asked with plain SQL
    (what Alembic's ``alembic_version`` table says): the common case needs no Alembic."""
    head = known_head()
    if head is None:
        return False
    with engine.connect().execution_options(readonly=True) as conn:  # cannot connect: raised as before
        try:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        except SQLAlchemyError:
            return False  # no table yet (a new database): Alembic creates it
    return list(rows) == [head]


def _created_new(engine: Engine) -> bool:
    """A database with no tables at all is made from the declared schema and stamped at
    the newest migration, in one locked transaction: Alembic's own recipe for a new
    database (``create_all``, then ``stamp``), without importing Alembic (~0.35 s of
    every first run, as on a fresh CI runner). False, with nothing done, when there is
    something there already: Alembic upgrades that. ``schema.py`` = migrations is a test."""
    head = known_head()
    if head is None:
        return False
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect

    from .schema import metadata

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727072)")  # as the migrations take it
        if inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        # Alembic's version table, as Alembic itself declares it (alembic.ddl.impl.version_table_impl).
        version = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
        version.create(conn)
        conn.execute(version.insert().values(version_num=head))
    return True


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, target: str = "head") -> None:
    """Bring the database to ``target`` (newest by default). Safe to call from
    several processes at once: the upgrade runs in one locked transaction."""
    key = str(engine.url)
    with _migrate_lock:
        if key in _migrated and target == "head":
            return
        if target == "head" and (_at_head(engine) or _created_new(engine)):
            _migrated.add(key)
            return
        from alembic import command

        head = head_revision()
        with engine.connect().execution_options(readonly=True) as conn:
            if current_revision(conn) == head and target == "head":
                _migrated.add(key)
                return
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727072)")  # 'patrol'
            command.upgrade(alembic_config(conn), target)
        if target == "head":
            _migrated.add(key)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn
