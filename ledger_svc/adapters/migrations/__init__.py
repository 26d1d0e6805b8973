"""Alembic migrations for the ledger schema; run with ``python -m ledger_svc migrate``."""
