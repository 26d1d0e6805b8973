"""The provider sandbox: one child that simulates every payment provider, before the gateway.

It is not a ``ServiceSpec``: it has no database, no migrations, no gRPC health, no Envoy
cluster and never more than one process, whatever ``--replicas`` says (every gateway
replica must see the same simulated provider state, as they would the same real provider).
It runs as::

    python -m sandbox --pki-dir var/pki --ports-file var/sandbox/ports.json --listen 127.0.0.1:0

serving every simulator over HTTPS on one port, under ``/<provider>``, with a certificate it
issues itself from the dev CA (``sandbox.pem``, names localhost and 127.0.0.1). The port is
read from the ports file; ``GET /healthz`` over TLS, trusting only the dev CA, proves what
the gateway will dial and names the mounted providers.

Each service that declares ``ServiceSpec.uses_sandbox`` (the gateway) is then given, per
mounted provider, ``<PREFIX>_<PROVIDER>__BASE_URL=<sandbox>/<provider>`` and the dev CA as
``<PREFIX>_<PROVIDER>__CA_FILE``, unless the caller's environment already sets that
provider's BASE_URL (empty: the gateway leaves the provider out). That is how one points a
provider at its real host (with ``__SANDBOX=false`` and its credentials), whose certificate
must then be checked against the CA the caller chose or the system store, never the dev CA.

Its own URLs (3-D Secure pages, PayPal's approve links) need no setting here: the sandbox
builds them from the address it bound, ``https://127.0.0.1:<port>``, which a browser on this
machine reaches as it is.

Its provider callbacks go to the gateway's public route through Envoy, as a real provider's
would: once Envoy is up, ``point_callbacks`` tells the sandbox (``POST /_control/webhooks``)
to send them to Envoy's REST listener, trusting the dev CA that issued Envoy's certificate.
The sandbox starts before Envoy, so this cannot be a start-up setting; a caller who set
``SANDBOX_WEBHOOK_TARGET`` (empty: no callbacks) keeps that choice.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts.stack import probes
from scripts.stack.children import Child, Console
from scripts.stack.settings import StackSettings

NAME = "sandbox"
MODULE = "sandbox"
LISTEN = "127.0.0.1:0"
HEALTH_PATH = "/healthz"
CONTROL_PATH = "/_control"
WEBHOOK_TARGET_ENV = "SANDBOX_WEBHOOK_TARGET"
LANES_ENV = "SANDBOX_WEBHOOK_LANES"
STACK_LANES = "8"
STOP_GRACE_S = 5.0
_POLL_S = 0.05


@dataclass(frozen=True)
class SandboxReady:
    """Where the running sandbox serves, and what."""

    url: str
    """``https://127.0.0.1:<port>``."""
    providers: tuple[str, ...]
    """The mounted simulators, as /healthz lists them."""

    def base_url(self, provider: str) -> str:
        """Where the gateway's adapter for ``provider`` points."""
        return f"{self.url}/{provider}"


def ports_file(settings: StackSettings) -> Path:
    """Where the sandbox publishes its port (var/sandbox/ports.json)."""
    return settings.var_dir / NAME / "ports.json"


def child(settings: StackSettings, console: Console) -> Child:
    """The sandbox process (not started yet); the caller's SANDBOX_* variables reach it."""
    argv = [
        sys.executable, "-m", MODULE,
        "--pki-dir", str(settings.pki_dir),
        "--ports-file", str(ports_file(settings)),
        "--listen", LISTEN,
    ]  # fmt: skip
    return Child(NAME, argv, sandbox_env(os.environ), cwd=settings.repo_root, console=console)


def sandbox_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The sandbox's environment: the caller's, with callbacks about different payments
    going out side by side, as a real provider sends them (sandbox/config.py:
    webhook_lanes), unless the caller set SANDBOX_WEBHOOK_LANES."""
    return {LANES_ENV: STACK_LANES, **environ}


async def start(settings: StackSettings, sandbox: Child) -> None:
    """Start ``sandbox``, first forgetting a previous run's ports file (its port is gone)."""
    ports_file(settings).unlink(missing_ok=True)
    await sandbox.start()


async def wait_ready(settings: StackSettings, sandbox: Child) -> SandboxReady:
    """Return once the sandbox published its port and answers /healthz over the dev CA."""
    ports = await probes.ports_file(ports_file(settings), sandbox)
    port = ports.get("https")
    if not isinstance(port, int) or port <= 0:
        raise RuntimeError(f"{NAME} published no https port: {ports}")
    url = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(settings.pki_dir / "ca.pem"))
    async with httpx.AsyncClient(base_url=url, verify=trust, timeout=1.0) as client:
        health = await _healthz(client, sandbox)
    providers = health.get("providers", [])
    return SandboxReady(url, tuple(str(p) for p in providers))


async def _healthz(client: httpx.AsyncClient, sandbox: Child) -> dict[str, Any]:
    while True:
        probes.check_alive(sandbox)
        try:
            reply = await client.get(HEALTH_PATH)
            if reply.status_code == 200:
                body: dict[str, Any] = reply.json()
                return body
        except (httpx.TransportError, ValueError):
            pass
        await asyncio.sleep(_POLL_S)


def provider_env(
    ready: SandboxReady, prefix: str, ca_file: Path, environ: Mapping[str, str]
) -> dict[str, str]:
    """``<prefix>_<PROVIDER>__BASE_URL`` and ``__CA_FILE`` for each provider the caller did
    not point elsewhere (see the module docstring); the caller applies them as defaults."""
    env: dict[str, str] = {}
    for provider in ready.providers:
        nested = f"{prefix}_{provider.upper()}__"
        if f"{nested}BASE_URL" in environ:  # elsewhere, or "" (not configured: skipped)
            continue
        env[f"{nested}BASE_URL"] = ready.base_url(provider)
        env[f"{nested}CA_FILE"] = str(ca_file)
    return env


def redirected(ready: SandboxReady, prefix: str, environ: Mapping[str, str]) -> Sequence[str]:
    """The providers whose BASE_URL in ``environ`` is set to anything but the sandbox's (so
    it may be asked before or after ``provider_env``'s defaults were applied)."""
    return [
        p
        for p in ready.providers
        if environ.get(f"{prefix}_{p.upper()}__BASE_URL", ready.base_url(p)) != ready.base_url(p)
    ]


async def point_callbacks(
    settings: StackSettings, ready: SandboxReady, rest_url: str, environ: Mapping[str, str]
) -> str:
    """Send the sandbox's provider callbacks to ``rest_url`` (Envoy's REST listener), trusting
    the dev CA, unless ``environ`` sets ``SANDBOX_WEBHOOK_TARGET`` (the module docstring); the
    target in use ("" for none)."""
    if WEBHOOK_TARGET_ENV in environ:
        return environ[WEBHOOK_TARGET_ENV]
    ca_file = str(settings.pki_dir / "ca.pem")
    trust = ssl.create_default_context(cafile=ca_file)
    async with httpx.AsyncClient(base_url=ready.url, verify=trust, timeout=5.0) as client:
        reply = await client.post(
            f"{CONTROL_PATH}/webhooks", json={"target": rest_url, "ca_file": ca_file}
        )
    if reply.status_code != 200:
        raise RuntimeError(f"{NAME} refused the callback target: {reply.text}")
    return rest_url


def describe(ready: SandboxReady, sandbox: Child) -> dict[str, Any]:
    """The sandbox in stack.json."""
    return {
        "pid": sandbox.pid,
        "url": ready.url,
        "providers": list(ready.providers),
        "control_url": f"{ready.url}{CONTROL_PATH}",
    }
