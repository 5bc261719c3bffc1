"""The state database: migrations on open, schema = migrations, config, concurrency:
every test of the database itself runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from pg_server import pg_server, postgres_url  # noqa: F401
from receivers import DEAD_BUTTON, confirmed_run, journey, make_run, service
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from patrol import yamlpos
from patrol.config import Config
from patrol.store import StateStoreError, open_store, state_settings
from patrol.store.db import _migrated, alembic_config, current_revision, head_revision, known_head, make_engine, migrate
from patrol.store.schema import incidents, metadata, runs

TABLES = {"runs", "journey_runs", "step_results", "incidents", "events", "deliveries", "journey_state", "robot_state"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """The database a test works on: a SQLite file, or a fresh database on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return request.getfixturevalue("postgres_url")


def _config(tmp_path, text: str) -> Config:
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return Config(file=str(path), root=tmp_path, located=yamlpos.load(text, str(path)))


def test_open_creates_and_migrates_the_database(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/deep/dir/state.db")
    assert (tmp_path / "deep" / "dir" / "state.db").exists()
    assert TABLES <= set(inspect(store.engine).get_table_names())
    with store.read() as conn:
        assert current_revision(conn) == head_revision()
    again = open_store(f"sqlite:///{tmp_path}/deep/dir/state.db")  # idempotent
    with again.read() as conn:
        assert current_revision(conn) == head_revision()


def test_the_head_read_without_alembic_is_alembics_head(db_url):
    assert known_head() == head_revision()
    # A database one migration behind is upgraded, not taken for current.
    engine = make_engine(db_url)
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(alembic_config(conn), "0001")
    _migrated.discard(str(engine.url))
    migrate(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def test_migrations_produce_exactly_the_declared_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = open_store(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def _reflected(engine) -> dict:
    """Everything the database says about its tables, comparable across two databases."""
    insp = inspect(engine)
    found = {}
    for table in sorted(insp.get_table_names()):
        found[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                           str(f.get("options"))) for f in insp.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
        }
    return found


def test_a_new_database_made_without_alembic_is_the_migrated_one(tmp_path, db_url, request):
    """A database with no tables is made from schema.py and stamped (no Alembic import):
    it must be exactly what running every migration makes, and migrate from there."""
    fast = make_engine(db_url)
    migrate(fast)
    with fast.connect() as conn:
        assert current_revision(conn) == head_revision()
    if db_url.startswith("sqlite"):
        slow_url = f"sqlite:///{tmp_path}/by-migrations.db"
    else:
        slow_url = request.getfixturevalue("pg_server").new_database()
    slow = make_engine(slow_url)
    with slow.begin() as conn:
        from alembic import command

        command.upgrade(alembic_config(conn), "head")
    assert _reflected(fast) == _reflected(slow)
    # ... and Alembic can take it down and up again from there.
    with fast.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(fast).get_table_names()) <= {"alembic_version"}
    _migrated.discard(str(fast.url))
    migrate(fast)
    assert TABLES <= set(inspect(fast).get_table_names())


def test_a_new_database_is_made_without_importing_alembic(tmp_path):
    code = ("import sys; from patrol.store import open_store; "
            f"open_store('sqlite:///{tmp_path}/new.db'); print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    with make_engine(f"sqlite:///{tmp_path}/new.db").connect() as conn:
        assert current_revision(conn) == head_revision()


def test_migrations_go_down_and_up_again_keeping_nothing_stale(db_url):
    from alembic import command

    engine = make_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert TABLES <= set(inspect(engine).get_table_names())


def test_an_existing_database_keeps_its_data_when_opened_by_a_newer_patrol(tmp_path, db_url):
    svc = service(tmp_path, url=db_url)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    _migrated.discard(db_url)
    reopened = open_store(db_url)
    with reopened.read() as conn:
        assert conn.execute(select(incidents.c.status)).scalars().all() == ["open"]


def test_runs_are_kept_with_summary_and_report_path(tmp_path, db_url):
    svc = service(tmp_path, url=db_url)
    run = make_run(journey(fail=DEAD_BUTTON), journey(name="login"), run_dir=str(tmp_path / "r1"))
    svc.record_run(run)
    with svc.store.read() as conn:
        row = conn.execute(select(runs)).mappings().one()
    assert row["report_path"] == str(tmp_path / "r1" / "index.html") and row["status"] == "failed"
    assert row["summary"] == {"journeys": 2, "attempts": 2, "passed": 1, "failed": 1, "errors": 0, "findings": 1}
    assert row["recorded_at"].tzinfo is not None


def test_state_config_defaults_relative_paths_and_switch_off(tmp_path, monkeypatch):
    assert state_settings(_config(tmp_path, "{}\n")).url == f"sqlite:///{tmp_path}/.patrol/state.db"
    assert state_settings(_config(tmp_path, "state: {url: 'sqlite:///db/x.db'}\n")).url == f"sqlite:///{tmp_path}/db/x.db"
    assert state_settings(_config(tmp_path, "state: {url: 'sqlite:////abs/x.db'}\n")).url == "sqlite:////abs/x.db"
    assert state_settings(_config(tmp_path, "state: false\n")).enabled is False
    monkeypatch.setenv("PATROL_TEST_PG_PASSWORD", "pg-pass-9876")
    s = state_settings(_config(tmp_path, "state:\n  url: postgresql://patrol:${secret:PATROL_TEST_PG_PASSWORD}@db/patrol\n"))
    assert s.url == "postgresql://patrol:pg-pass-9876@db/patrol"
    from patrol.secrets import mask

    assert "pg-pass-9876" not in mask(f"connecting to {s.url}")


def test_a_database_that_cannot_be_opened_is_a_robot_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StateStoreError) as e:
        open_store(f"sqlite:///{tmp_path}/file/sub/state.db")
    assert e.value.exit_code == 3 and "cannot open the state database" in str(e.value)
    with pytest.raises(StateStoreError) as e:  # no driver installed, or nothing listening: either way
        open_store("postgresql+psycopg://patrol:pw-not-shown@127.0.0.1:1/patrol")
    assert "pw-not-shown" not in str(e.value)


def test_one_open_incident_per_fingerprint_enforced_by_the_database(tmp_path, db_url):
    svc = service(tmp_path, url=db_url)
    svc.record_run(confirmed_run(DEAD_BUTTON))
    with svc.store.read() as conn:
        row = dict(conn.execute(select(incidents)).mappings().one())
    row.pop("id")
    with pytest.raises(IntegrityError):
        with svc.store.write() as conn:
            conn.execute(insert(incidents).values(**row))
    row["status"] = "resolved"
    with svc.store.write() as conn:
        conn.execute(insert(incidents).values(**row))  # resolved ones may repeat


def test_concurrent_writers_do_not_lose_or_duplicate_anything(tmp_path, db_url):
    """Two processes' worth of writers on one database: the same failure recorded by
    both opens exactly one incident, and nothing fails with 'database is locked' (SQLite)
    or a serialization/unique error (PostgreSQL)."""
    a, b = service(tmp_path, url=db_url), service(tmp_path, url=db_url)
    errors: list[BaseException] = []

    def work(svc, n):
        try:
            for _ in range(n):
                svc.record_run(confirmed_run(DEAD_BUTTON))
                svc.flush_deliveries(0.1)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s, 8)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with a.store.read() as conn:
        rows = conn.execute(select(incidents.c.status, incidents.c.count)).all()
    assert [tuple(r) for r in rows] == [("open", 16)]
