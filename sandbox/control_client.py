"""A small async client of the control API, for tests and the stack's tooling.

    control = SandboxControl(client)       # an httpx.AsyncClient whose base_url is the sandbox
    fault = await control.add_fault(provider="stripe", kind="reset", path="/v1/payment_intents")
    ...
    assert (await control.state("stripe"))["payment_intents"]
    await control.set_webhooks(target=receiver_url, ca_file=str(ca_pem_path))
    await control.webhook_mode("duplicate", provider="stripe")
    sent = await control.flush_webhooks()  # the deliveries finished meanwhile

Each method raises ControlRefused (with the sandbox's message) for a non-2xx answer, so a
typo in a scripted fault fails the test at the line that scripted it.
"""

from __future__ import annotations

from typing import Any

import httpx


class ControlRefused(RuntimeError):
    """The control API answered with an error status; ``str()`` carries its message."""


class SandboxControl:
    """``add_fault``, ``faults``, ``clear_faults``, ``state``, ``reset``, ``stats`` and the
    callback calls ``webhooks``, ``set_webhooks``, ``webhook_mode``, ``flush_webhooks`` and
    ``webhooks_sent``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def add_fault(self, **spec: Any) -> dict[str, Any]:
        """Script a fault (fields as in sandbox.faults); returns it, with its ``id``."""
        fault: dict[str, Any] = await self._call("POST", "/_control/faults", json=spec)
        return fault

    async def faults(self) -> list[dict[str, Any]]:
        """The armed faults, each with ``remaining`` and ``fired``."""
        listed: list[dict[str, Any]] = (await self._call("GET", "/_control/faults"))["faults"]
        return listed

    async def clear_faults(self, provider: str | None = None) -> int:
        """Disarm every fault (of ``provider`` only when given); returns how many."""
        params = {"provider": provider} if provider else None
        cleared: int = (await self._call("DELETE", "/_control/faults", params=params))["cleared"]
        return cleared

    async def state(self, provider: str) -> Any:
        """The simulator's snapshot() as JSON data."""
        return await self._call("GET", f"/_control/{provider}/state")

    async def reset(self) -> None:
        """Every simulator forgets its state; every fault is cleared."""
        await self._call("POST", "/_control/reset")

    async def stats(self) -> dict[str, Any]:
        """Requests per provider and path, and faults fired per provider and kind."""
        stats: dict[str, Any] = await self._call("GET", "/_control/stats")
        return stats

    async def webhooks(self) -> dict[str, Any]:
        """The callback settings (target, ca_file, enabled, modes) and counters."""
        settings: dict[str, Any] = await self._call("GET", "/_control/webhooks")
        return settings

    async def set_webhooks(self, **changes: Any) -> dict[str, Any]:
        """Change ``target``, ``ca_file`` / ``ca_pem`` or ``enabled``; returns the settings."""
        settings: dict[str, Any] = await self._call("POST", "/_control/webhooks", json=changes)
        return settings

    async def webhook_mode(self, mode: str, provider: str | None = None) -> dict[str, Any]:
        """``normal``, ``duplicate``, ``reverse``, ``bad_signature`` or ``stale`` for
        ``provider``'s future events (every provider's without one); returns the settings."""
        spec = {"mode": mode} if provider is None else {"mode": mode, "provider": provider}
        settings: dict[str, Any] = await self._call("POST", "/_control/webhooks/mode", json=spec)
        return settings

    async def flush_webhooks(self, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """Send held events and wait until nothing is pending (at most ``timeout_s``);
        returns the deliveries that finished meanwhile, each with its attempts."""
        reply = await self._call(
            "POST",
            "/_control/webhooks/flush",
            json={"timeout_s": timeout_s},
            timeout=timeout_s + 5.0,
        )
        sent: list[dict[str, Any]] = reply["sent"]
        return sent

    async def webhooks_sent(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Every finished delivery (of ``provider`` only when given), oldest first."""
        params = {"provider": provider} if provider else None
        reply = await self._call("GET", "/_control/webhooks/sent", params=params)
        sent: list[dict[str, Any]] = reply["sent"]
        return sent

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._client.request(method, path, **kwargs)
        if response.is_error:
            raise ControlRefused(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()
