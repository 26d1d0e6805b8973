"""The services the stack runs, as data, and the environment of each replica.

Adding a service is one more ``ServiceSpec`` in ``SERVICES``: its module, its
settings prefix, the listeners it binds and which Envoy cluster each listener
serves. Nothing else in the supervisor names a service. The provider sandbox is
not one (no database, no gRPC, one process whatever the replica count):
scripts/stack/sandbox.py runs it, and a spec with ``uses_sandbox`` gets its
provider URLs.

Every listener is bound on port 0 and published through ``<PREFIX>_PORTS_FILE``
(svc_kit.server), so replicas never race for a port and a stray process can
never share one. A replica restarted after a crash is given the ports it had,
because Envoy's clusters list them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scripts.stack.settings import StackSettings

LOOPBACK_ANY_PORT = "127.0.0.1:0"


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the stack."""

    name: str
    """Process name, PKI workload (var/pki/<name>.pem) and database suffix."""
    module: str
    """``python -m <module> serve`` runs it; ``... migrate`` migrates its schema."""
    prefix: str
    """Its settings' environment prefix, without the underscore (LEDGER)."""
    listeners: Mapping[str, str]
    """Ports-file key ("grpc", "hot") -> the setting that binds it (LISTEN_ADDR)."""
    clusters: Mapping[str, str]
    """Envoy cluster -> the ports-file key of the listener that serves it."""
    http_listeners: frozenset[str] = frozenset()
    """Listeners that speak HTTP, not gRPC: health-checked by Envoy (/healthz), not by
    the supervisor's gRPC probe."""
    defaults: Mapping[str, str] = field(default_factory=dict)
    """More settings (without prefix) the stack sets unless the environment does;
    ``{var}`` is replaced by the var directory."""
    uses_sandbox: bool = False
    """Its providers point at the sandbox: ``<PREFIX>_<PROVIDER>__BASE_URL`` and
    ``__CA_FILE`` per simulated provider, unless the environment sets that BASE_URL
    (scripts/stack/sandbox.py). Its replicas start only once the sandbox serves."""

    def setting(self, name: str) -> str:
        """The environment variable of setting ``name`` (TLS_CA_FILE -> LEDGER_TLS_CA_FILE)."""
        return f"{self.prefix}_{name}"


# Identity first: Envoy asks it (cluster identity_authz: its HTTP check listener, the
# fast path; see scripts/envoy_config/_rest.py) before every REST request.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="identity",
        module="identity_svc",
        prefix="IDENTITY",
        listeners={"grpc": "LISTEN_ADDR", "authz_http": "AUTHZ_HTTP_LISTEN_ADDR"},
        clusters={"identity": "grpc", "identity_authz": "authz_http"},
        http_listeners=frozenset({"authz_http"}),
        defaults={"KEY_PEPPER_FILE": "{var}/identity/pepper"},
    ),
    ServiceSpec(
        name="ledger",
        module="ledger_svc",
        prefix="LEDGER",
        listeners={"grpc": "LISTEN_ADDR"},
        clusters={"ledger": "grpc"},
    ),
    # The gateway reaches the ledger and identity's AuditService through Envoy's internal
    # listener, with its own certificate; it connects lazily, so it may start before Envoy.
    # Its providers are the sandbox's simulators unless the environment says otherwise.
    # Merchant webhooks may go to loopback and private addresses over plain http here, so a
    # receiver on the developer's machine (bench/webhook_receiver.py, or any local server)
    # can be registered; a deployment leaves both settings off (the SSRF guard).
    ServiceSpec(
        name="gateway",
        module="gateway_svc",
        prefix="GATEWAY",
        listeners={"grpc": "LISTEN_ADDR"},
        clusters={"gateway": "grpc"},
        defaults={
            "LEDGER_ADDR": "{grpc}",
            "IDENTITY_ADDR": "{grpc}",
            "WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "true",
            "WEBHOOK_ALLOW_INSECURE_HTTP": "true",
        },
        uses_sandbox=True,
    ),
)


def command(spec: ServiceSpec, verb: str, *extra: str) -> list[str]:
    """argv of ``python -m <module> <verb>`` with this interpreter."""
    return [sys.executable, "-m", spec.module, verb, *extra]


def base_env(spec: ServiceSpec, settings: StackSettings, database_url: str) -> dict[str, str]:
    """The environment every process of ``spec`` gets (serve, migrate, bootstrap).

    The caller's own <PREFIX>_* variables win: the stack only fills in what is unset.
    """
    env = dict(os.environ)
    pki = settings.pki_dir
    derived = {
        "TLS_CERT_FILE": str(pki / f"{spec.name}.pem"),
        "TLS_KEY_FILE": str(pki / f"{spec.name}-key.pem"),
        "TLS_CA_FILE": str(pki / "ca.pem"),
        "DATABASE_URL": database_url,
        **{
            k: v.format(var=settings.var_dir, grpc=settings.grpc_addr)
            for k, v in spec.defaults.items()
        },
    }
    for name, value in derived.items():
        env.setdefault(spec.setting(name), value)
    return env


def replica_env(
    spec: ServiceSpec,
    base: Mapping[str, str],
    ports_file: Path,
    bind: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """``base`` plus where one replica listens and publishes its ports.

    These are set, never defaulted: the supervisor must know where the replica
    listens, so a LEDGER_LISTEN_ADDR left in the shell cannot move it.
    ``bind`` pins listeners to the ports a crashed replica had.
    """
    env = dict(base)
    for key, setting in spec.listeners.items():
        port = (bind or {}).get(key)
        env[spec.setting(setting)] = f"127.0.0.1:{port}" if port else LOOPBACK_ANY_PORT
    env[spec.setting("PORTS_FILE")] = str(ports_file)
    return env


def replica_names(spec: ServiceSpec, replicas: int) -> list[str]:
    """Process names: "ledger" alone, or "ledger-1", "ledger-2", ..."""
    if replicas == 1:
        return [spec.name]
    return [f"{spec.name}-{i}" for i in range(1, replicas + 1)]


def shutdown_grace_s(spec: ServiceSpec, env: Mapping[str, str]) -> float:
    """The replica's own drain time (<PREFIX>_SHUTDOWN_GRACE_S, svc_kit's default 10 s)."""
    try:
        return float(env.get(spec.setting("SHUTDOWN_GRACE_S"), "10"))
    except ValueError:
        return 10.0
