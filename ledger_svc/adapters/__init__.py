"""Storage for the ledger: SQLAlchemy Core tables, Alembic migrations, the repository."""
