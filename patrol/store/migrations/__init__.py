"""Alembic migrations of the state database (a package so that they ship in the wheel)."""
