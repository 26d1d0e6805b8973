"""Alembic migrations for the gateway schema; run with ``python -m gateway_svc migrate``."""
