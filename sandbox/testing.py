"""Test support: a started sandbox as one handle, and a trivial echo simulator.

The pytest fixtures in tests/integration/sandbox/conftest.py are thin wrappers over
``running_sandbox``; a test types its fixture argument with ``SandboxHandle``::

    from sandbox.testing import SandboxHandle

    async def test_a_charge_succeeds(sandbox_server: SandboxHandle) -> None:
        async with sandbox_server.client("stripe") as client:
            reply = await client.post("/v1/payment_intents", ...)
        await sandbox_server.control.add_fault(provider="stripe", kind="reset")
        assert (await sandbox_server.control.state("stripe"))[...]
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sandbox.config import SandboxConfig
from sandbox.control_client import SandboxControl
from sandbox.core import ProviderSim, SimRequest, SimResponse
from sandbox.registry import SimFactory
from sandbox.server import RunningSandbox, start_sandbox
from sandbox.tls import server_context

ECHO = "echo"


@dataclass(frozen=True)
class SandboxHandle:
    """A running sandbox as a test sees it."""

    running: RunningSandbox
    control: SandboxControl
    """The control API over the same TLS as the simulators."""
    ca_file: Path | None
    """The dev CA that signed the sandbox's certificate (None for the plaintext variant)."""

    @property
    def config(self) -> SandboxConfig:
        """The config the simulators were built from (``public_url`` filled in)."""
        return self.running.config

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>`` (``http://`` for the plaintext variant)."""
        return self.running.url

    def base_url(self, provider: str) -> str:
        """Where the gateway's adapter for ``provider`` points: ``<url>/<provider>``."""
        return f"{self.running.url}/{provider}"

    def sim(self, provider: str) -> ProviderSim:
        """The in-process simulator object (for assertions the snapshot does not cover)."""
        return self.running.sims[provider]

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What to pass as httpx's ``verify``: a context trusting the dev CA only."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, provider: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client trusting the dev CA, based at ``base_url(provider)`` (or the
        sandbox root); the caller closes it (``async with``)."""
        base = self.base_url(provider) if provider else self.running.url
        return httpx.AsyncClient(base_url=base, verify=self.ssl_context(), **kwargs)


@asynccontextmanager
async def running_sandbox(
    factories: Mapping[str, SimFactory],
    config: SandboxConfig,
    *,
    cert: tuple[Path, Path] | None = None,
    ca_file: Path | None = None,
    hold_cap_s: float = 120.0,
) -> AsyncIterator[SandboxHandle]:
    """A sandbox on 127.0.0.1:0, over TLS with ``cert`` (cert, key) or plaintext without."""
    context = server_context(*cert) if cert is not None else None
    running = await start_sandbox(factories, config, ssl_context=context, hold_cap_s=hold_cap_s)
    try:
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        async with httpx.AsyncClient(base_url=running.url, verify=verify) as client:
            yield SandboxHandle(running, SandboxControl(client), ca_file)
    finally:
        await running.close()


class EchoSim:
    """A stateful stand-in provider mounted at ``/echo``, for tests of the host itself.

    Every handled request is recorded (so a test can see whether a faulted request was
    committed) and echoed back as JSON. ``/slow?ms=N`` waits N ms before answering; ``/status/N``
    answers status N; ``/raise`` raises (after being recorded).
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.handled: list[dict[str, object]] = []

    @property
    def name(self) -> str:
        return ECHO

    async def handle(self, request: SimRequest) -> SimResponse:
        record: dict[str, object] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "body": request.body.decode("utf-8", "replace"),
        }
        self.handled.append(record)
        if request.path == "/raise":
            raise RuntimeError("the echo simulator was asked to raise")
        if request.path == "/slow":
            await asyncio.sleep(int(request.query.get("ms", "0")) / 1000)
        status = 200
        if request.path.startswith("/status/"):
            status = int(request.path.removeprefix("/status/"))
        headers = {"x-echo-count": str(len(self.handled))}
        return SimResponse.of_json(
            status, {**record, "headers": dict(request.headers)}, headers=headers
        )

    def fault_reply(self, status: int, retry_after_s: float | None) -> SimResponse:
        headers = {} if retry_after_s is None else {"retry-after": f"{retry_after_s:g}"}
        return SimResponse.of_json(status, {"error": {"status": status}}, headers)

    def snapshot(self) -> object:
        return {"handled": list(self.handled)}

    def reset(self) -> None:
        self.handled.clear()
