"""ledger_svc's settings: the shared ServiceSettings plus the posting writer's knobs."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from svc_kit.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Environment variables prefixed LEDGER_ (``python -m ledger_svc --help`` lists them)."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="forbid")

    listen_addr: str = Field(
        default="127.0.0.1:50061",
        description="gRPC listen address, host:port (port 0 picks a free one)",
    )
    batch_max_items: int = Field(
        default=1000, ge=1, le=10000, description="most write commands one group commit takes"
    )
    batch_window_ms: float = Field(
        default=0.5,
        ge=0,
        le=50,
        description="how long the writer waits to gather more commands before a flush",
    )
    sweep_interval_s: float = Field(
        default=1.0, gt=0, description="seconds between sweeps that expire timed-out holds"
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="database connection pool size")
