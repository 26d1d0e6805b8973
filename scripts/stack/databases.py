"""Where each service keeps its data.

- Default: each service's SQLite file, <var>/<service>.db.
- PAYMESH_DATABASE_URL=postgresql://user@host:port/NAME: each service gets a
  PostgreSQL database of its own, NAME_<service> (paymesh_ledger), created when
  missing, so the tables of two services can never collide.
- <PREFIX>_DATABASE_URL (LEDGER_DATABASE_URL, ...) still wins for its service.

URLs handed to the services are SQLAlchemy async URLs (postgresql+psycopg://,
sqlite+aiosqlite:///), the spelling svc_kit.db and tests/conftest.py use.

Several replicas on one SQLite file are safe, which is why the stack allows
them: every write transaction starts with BEGIN IMMEDIATE (svc_kit.db), so
writers of all processes queue on SQLite's file lock with a 10 s busy timeout,
and every read-then-write (the ledger's chain head, idempotency records,
identity's audit head) happens under that lock; WAL lets readers of every
process run beside the writer; the migrations run once, here, before any
replica starts. What SQLite cannot give is more write throughput: the writers
of all replicas take turns. Use PostgreSQL to measure scaling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from scripts.stack.services import ServiceSpec
from scripts.stack.settings import SettingsError, StackSettings

_PG_DRIVERS = ("postgresql", "postgres", "postgresql+psycopg")
# The maintenance database every PostgreSQL has; CREATE DATABASE cannot run
# inside the database it creates, and NAME itself need not exist.
_MAINTENANCE_DB = "postgres"
_CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class ServiceDatabase:
    """One service's database."""

    url: str
    """SQLAlchemy async URL, with the password if any (handed to the service)."""
    shown: str
    """The same URL with the password masked, for output and stack.json."""
    create: bool
    """True when the stack derived it from PAYMESH_DATABASE_URL and creates it if missing."""

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def label(self, root: Path) -> str:
        """Short, for progress lines: "SQLite var/ledger.db", "PostgreSQL paymesh_ledger on ..."."""
        url = make_url(self.url)
        if not self.postgres:
            path = Path(url.database or "")
            return f"SQLite {path.relative_to(root) if path.is_relative_to(root) else path}"
        where = f"{url.username}@{url.host}:{url.port or 5432}" if url.host else "local socket"
        return f"PostgreSQL {url.database} on {where}"


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _shared_postgres(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(f"PAYMESH_DATABASE_URL is not a URL: {raw!r}") from None
    if url.drivername not in _PG_DRIVERS or not url.database:
        raise SettingsError(
            "PAYMESH_DATABASE_URL must be postgresql://user@host:port/NAME (each service then"
            f" uses the database NAME_<service>), not {url.render_as_string()!r}"
        )
    return url.set(drivername="postgresql+psycopg")


def resolve(
    settings: StackSettings, specs: Sequence[ServiceSpec], env: Mapping[str, str]
) -> dict[str, ServiceDatabase]:
    """Each service's database, by service name."""
    shared = _shared_postgres(settings.database_url) if settings.database_url else None
    out: dict[str, ServiceDatabase] = {}
    for spec in specs:
        explicit = env.get(spec.setting("DATABASE_URL"))
        if explicit:
            url, create = make_url(explicit), False
        elif shared is not None:
            url, create = shared.set(database=f"{shared.database}_{spec.name}"), True
        else:
            path = settings.var_dir / f"{spec.name}.db"
            url, create = make_url(f"sqlite+aiosqlite:///{path}"), False
        out[spec.name] = ServiceDatabase(_render(url), url.render_as_string(), create)
    return out


async def create_missing(databases: Mapping[str, ServiceDatabase]) -> list[str]:
    """Create the derived PostgreSQL databases that do not exist yet; their names.

    Raises ``RuntimeError`` naming the server when PostgreSQL cannot be reached.
    """
    created: list[str] = []
    for db in databases.values():
        if not (db.create and db.postgres):
            continue
        url = make_url(db.url)
        admin = url.set(drivername="postgresql", database=_MAINTENANCE_DB)
        try:
            # CREATE DATABASE refuses to run inside a transaction block.
            async with await psycopg.AsyncConnection.connect(
                _render(admin), autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S
            ) as conn:
                found = await conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
                )
                if await found.fetchone() is None:
                    name = sql.Identifier(str(url.database))
                    await conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
                    created.append(str(url.database))
        except psycopg.Error as exc:
            shown = admin.render_as_string()
            raise RuntimeError(f"cannot prepare database {url.database} on {shown}: {exc}") from exc
    return created


def admin_key_name(identity: ServiceDatabase, settings: StackSettings) -> str:
    """The admin key's file name under <var>/identity/.

    A key belongs to one identity database: after switching to PostgreSQL, the
    key made for the SQLite file would be refused. So only the default database
    uses the plain name; any other gets a name of its own.
    """
    default = f"sqlite+aiosqlite:///{settings.var_dir / 'identity.db'}"
    if identity.url == default:
        return "admin-key"
    url = make_url(identity.url)
    where = f"{url.host or 'local'}-{url.port or ''}-{url.database}".replace("/", "_")
    return f"admin-key.{url.get_backend_name()}-{where}"
