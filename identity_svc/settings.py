"""identity_svc's settings: the shared ServiceSettings plus keys, cache and usage knobs."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from svc_kit.principal import EDGE_SPIFFE_ID
from svc_kit.settings import ServiceSettings, is_loopback_addr


class IdentitySettings(ServiceSettings):
    """Environment variables prefixed IDENTITY_ (``python -m identity_svc --help`` lists them)."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="forbid")

    listen_addr: str = Field(
        default="127.0.0.1:50062",
        description="gRPC listen address, host:port (port 0 picks a free one)",
    )
    authz_listen_addr: str = Field(
        default="",
        description="serve Envoy's ext_authz Check on this address of its own, a gRPC "
        "listener with no interceptors (the hot path; same TLS); empty serves it on LISTEN_ADDR",
    )
    authz_http_listen_addr: str = Field(
        default="",
        description="also answer Envoy's ext_authz over HTTP/1.1 (http_service, path_prefix "
        '"/check"; GET /healthz) on this address, host:port; same process, Authorizer and TLS '
        'files (TLS 1.3, client certificate in ALLOWED_PEERS); ports-file key "authz_http"; '
        "empty: off",
    )
    environment: Literal["test", "live"] = Field(
        default="test", description="the environment new keys carry in their prefix (pm_test_...)"
    )
    key_pepper_file: str = Field(
        default="var/identity/pepper",
        description="file holding the server pepper keying every stored key hash; in the test "
        "environment it is generated on first start, in live it must be provisioned",
    )
    cache_refresh_interval_s: float = Field(
        default=0.25,
        gt=0,
        le=0.5,
        description="seconds between polls of the key change feed; revocation reaches the "
        "edge within this plus one query (bounded under 1 s)",
    )
    usage_flush_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="seconds between flushes of usage counters"
    )
    edge_spiffe_id: str = Field(
        default=EDGE_SPIFFE_ID,
        description="SPIFFE id of the edge proxy; only its x-paymesh-principal header is believed",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="database connection pool size")

    @model_validator(mode="after")
    def _authz_transport_is_safe(self) -> Self:
        for addr in (self.authz_listen_addr, self.authz_http_listen_addr):
            if self.plaintext and addr and not is_loopback_addr(addr):
                raise ValueError(
                    f"IDENTITY_PLAINTEXT=true is refused on {addr!r}: plaintext "
                    "may only listen on a loopback address"
                )
        return self
