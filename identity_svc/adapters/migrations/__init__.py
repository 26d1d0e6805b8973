"""Alembic migrations for identity's schema; applied by ``identity_svc.adapters.migrate``."""
