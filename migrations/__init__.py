"""Alembic migrations (a package so that an installed gategraph can find them)."""
