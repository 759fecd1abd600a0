"""Alembic migrations of the store (run by ``cisaudit.store`` itself, never by hand)."""
