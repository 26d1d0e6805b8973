"""Settings every service shares, read from environment variables with the service's prefix.

A service subclasses ``ServiceSettings`` and sets ``model_config`` with its own ``env_prefix``
(``LEDGER_``, ``IDENTITY_``, ``GATEWAY_``). ``settings_help`` prints the table that
``python -m <service> --help`` shows.

Two rules are enforced when settings are built, so a misconfigured service fails at start-up
instead of serving insecurely: without ``plaintext`` all three TLS files are required, and
``plaintext`` is refused on anything but a loopback address (architecture.md: "Plaintext exists
only for unit tests on loopback and must be asked for explicitly").

``allowed_peers`` names the SPIFFE ids that may call the service at all (``svc_kit.peers``). In
production every service is reached only through Envoy, so the default admits Envoy alone.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from svc_kit.principal import EDGE_SPIFFE_ID

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TLS_FIELDS = ("tls_cert_file", "tls_key_file", "tls_ca_file")
ANY_PEER = "*"
_SPIFFE_PREFIX = "spiffe://"


class ServiceSettings(BaseSettings):
    """Settings shared by every paymesh service."""

    # The base prefix is only a guard: without one, a generic variable such as LOG_LEVEL or
    # DATABASE_URL in someone's shell would silently configure the service. Subclasses override.
    model_config = SettingsConfigDict(env_prefix="SVC_KIT_", extra="forbid")

    listen_addr: str = Field(
        default="127.0.0.1:50051",
        description="gRPC listen address, host:port (port 0 picks a free one)",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL (postgresql://... or sqlite:///...); empty means the "
        "service's SQLite file under var/",
    )
    tls_cert_file: str = Field(default="", description="PEM certificate this service presents")
    tls_key_file: str = Field(default="", description="PEM private key of the certificate")
    tls_ca_file: str = Field(
        default="", description="PEM CA bundle that client certificates must chain to"
    )
    # NoDecode: pydantic-settings would parse the variable as JSON only; the validator below
    # takes JSON or the comma-separated form people actually type.
    allowed_peers: Annotated[list[str], NoDecode] = Field(
        default=[EDGE_SPIFFE_ID],
        description="SPIFFE ids allowed to call any RPC on any port of this service, health and "
        'reflection included (comma-separated or a JSON list); "*" alone admits every '
        "certificate of the CA (local tools, tests); ignored with PLAINTEXT",
    )
    plaintext: bool = Field(
        default=False,
        description="serve without TLS; allowed only on a loopback address, "
        "for development and tests",
    )
    metrics_addr: str = Field(
        default="",
        description="Prometheus /metrics address, host:port (plain HTTP); empty disables",
    )
    ports_file: str = Field(
        default="",
        description='after binding, write the bound ports here as JSON ({"grpc": ..., '
        '"hot": ..., "metrics": ..., "pid": ...}); lets a supervisor use port 0',
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    shutdown_grace_s: float = Field(
        default=10.0, ge=0, description="seconds in-flight RPCs may run after a stop is requested"
    )
    health_probe_interval_s: float = Field(
        default=2.0, gt=0, description="seconds between readiness probes (database ping)"
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @field_validator("allowed_peers", mode="before")
    @classmethod
    def _split_peers(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list of SPIFFE ids: {exc}") from exc
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("allowed_peers")
    @classmethod
    def _valid_peers(cls, value: list[str]) -> list[str]:
        if not value:
            # An empty list would refuse every caller; an unset variable is the usual cause.
            raise ValueError(f'name at least one SPIFFE id, or "{ANY_PEER}" to admit any peer')
        if ANY_PEER in value and len(value) > 1:
            raise ValueError(f'"{ANY_PEER}" admits every peer; list it alone')
        for peer in value:
            if peer != ANY_PEER and not _is_spiffe_id(peer):
                raise ValueError(f"{peer!r} is not a SPIFFE id (spiffe://<trust domain>/<path>)")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _transport_is_safe(self) -> Self:
        prefix = str(self.model_config.get("env_prefix", ""))
        if not self.plaintext:
            missing = [f"{prefix}{name.upper()}" for name in _TLS_FIELDS if not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"TLS is required: set {', '.join(missing)} "
                    f"(or {prefix}PLAINTEXT=true on a loopback address, for development only)"
                )
        elif not is_loopback_addr(self.listen_addr):
            raise ValueError(
                f"{prefix}PLAINTEXT=true is refused on {self.listen_addr!r}: plaintext may only "
                "listen on a loopback address (127.0.0.0/8, ::1, localhost)"
            )
        return self


def is_loopback_addr(addr: str) -> bool:
    """True for ``host:port`` on 127.0.0.0/8, ::1 or localhost, and for unix sockets."""
    if addr.startswith(("unix:", "unix-abstract:")):
        return True  # never reachable from another machine
    host = addr.rpartition(":")[0] if ":" in addr else addr
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost could resolve anywhere


def _is_spiffe_id(value: str) -> bool:
    trust_domain, _, path = value.removeprefix(_SPIFFE_PREFIX).partition("/")
    return value.startswith(_SPIFFE_PREFIX) and bool(trust_domain) and bool(path)


def settings_help(cls: type[ServiceSettings]) -> str:
    """A table of every environment variable of ``cls``: name, default and description."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    rows = [("VARIABLE", "DEFAULT", "DESCRIPTION")]
    for name, field in cls.model_fields.items():
        env_name = f"{prefix}{name.upper()}"
        rows.append((env_name, _show_default(field.default), field.description or ""))
    width_name = max(len(row[0]) for row in rows)
    width_default = max(len(row[1]) for row in rows)
    return "\n".join(
        f"{env:<{width_name}}  {default:<{width_default}}  {text}".rstrip()
        for env, default, text in rows
    )


def _show_default(value: Any) -> str:
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)  # the form the variable takes
    return str(value)
