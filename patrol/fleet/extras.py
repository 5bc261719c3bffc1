"""What a fleet needs beyond Patrol's own dependencies: Celery and redis (the ``fleet`` extra) and
psycopg for a PostgreSQL state database. Looked up without importing them, so ``patrol doctor``
and ``patrol worker`` can say what is missing and how to install it."""

from __future__ import annotations

import importlib.util

INSTALL = "pip install 'patrol[fleet]' (in a checkout: .venv/bin/pip install -e '.[fleet]')"
MODULES = {"celery": "Celery", "redis": "redis", "psycopg": "psycopg (PostgreSQL)"}


def missing(*, postgres: bool = True) -> list[str]:
    """The fleet's modules not installed here (psycopg only when the state database is PostgreSQL)."""
    wanted = [m for m in MODULES if postgres or m != "psycopg"]
    return [MODULES[m] for m in wanted if importlib.util.find_spec(m) is None]


def uses_postgres(state_url: str) -> bool:
    return state_url.split(":", 1)[0].startswith("postgresql")


def problem(what: str, absent: list[str]) -> str:
    return f"{what} needs {', '.join(absent)}, not installed here: {INSTALL}"
