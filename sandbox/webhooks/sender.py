"""The background sender: queues each simulator's events and POSTs them, signed, with retries.

Lanes (an asyncio queue and its worker task each) per provider, started on first use: a lane
sends one delivery at a time. An event goes to the lane its object (``Event.about``) hashes
to, one of ``webhook_lanes`` per provider, so the events about one object arrive in the order
they happened while different objects' go out side by side (with one lane, a provider's
events all arrive in order), and a receiver down for one provider does not hold up another.
A delivery waits until ``webhook_delay_ms`` after its state change (never inside the API
request that made it), then is tried up to ``len(RETRY_DELAYS_S) + 1`` times, pausing
between tries, until the target answers 2xx; every delivery ends as a ``Record``
(sandbox.webhooks.records), delivered or given up. Each attempt is signed afresh (a new
timestamp, a new PayPal transmission); the body is the same bytes every time.

Modes (sandbox.webhooks.settings.Mode) are read when the state changes: ``duplicate`` queues
the delivery twice, ``reverse`` holds it until ``flush`` releases every held one newest
first, ``bad_signature`` and ``stale`` change how each attempt is signed. With callbacks off
(no target, or disabled) events are not built at all, only counted in ``dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

from sandbox.config import SandboxConfig
from sandbox.webhooks.events import Event, EventBuilder, EventSink
from sandbox.webhooks.providers import SIGNERS
from sandbox.webhooks.records import Outcome, Record, SentLog
from sandbox.webhooks.settings import PROVIDERS, Mode, Settings, Trust, check_target, patched
from sandbox.webhooks.wire import Signing

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
"""Pauses between tries: five tries over about four seconds (the sandbox is a test tool)."""
ATTEMPT_TIMEOUT_S = 5.0
STALE_BY_S = 600
"""How old ``stale`` mode's timestamps are: ten minutes, twice any receiver's tolerance."""
PATH = "/v1/provider-webhooks/"
USER_AGENT = "paymesh-sandbox-webhooks/1"


@dataclass(frozen=True, slots=True)
class _Delivery:
    event: Event
    mode: Mode
    due: float
    """Event-loop time before which it is not sent."""


class WebhookSender:
    """Every simulator's callbacks for one sandbox; ``close()`` stops its tasks."""

    def __init__(
        self, config: SandboxConfig, *, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    ) -> None:
        self._config = config
        self._delay_s = config.webhook_delay_ms / 1000
        self._retry_delays_s = retry_delays_s
        trust = Trust(config.webhook_ca_file)
        # Loaded now: a wrong SANDBOX_WEBHOOK_CA_FILE must stop the sandbox, not every send.
        self._verify = trust.context()
        self.settings = Settings(check_target(config.webhook_target), trust)
        self.records = SentLog()
        self.dropped = 0
        """Events not built because callbacks were off when their state changed."""
        self._lanes: dict[tuple[str, int], tuple[asyncio.Queue[_Delivery], asyncio.Task[None]]]
        self._lanes = {}
        self._lane_count = config.webhook_lanes
        self._held: list[_Delivery] = []
        self._pending = 0
        self._client: httpx.AsyncClient | None = None

    def attach(self, sims: Iterable[object]) -> None:
        """Connect every simulator that has a ``webhooks`` EventSink to this sender."""
        for sim in sims:
            sink = getattr(sim, "webhooks", None)
            if isinstance(sink, EventSink):
                sink.connect(self.submit)

    def submit(self, build: EventBuilder) -> None:
        """A simulator's state changed (called on the event loop, inside its request)."""
        if not self.settings.active:
            self.dropped += 1
            return
        event = build()
        mode = self.settings.modes.get(event.provider, Mode.NORMAL)
        delivery = _Delivery(event, mode, asyncio.get_running_loop().time() + self._delay_s)
        if mode is Mode.REVERSE:
            self._held.append(delivery)
            return
        self._enqueue(delivery)
        if mode is Mode.DUPLICATE:
            self._enqueue(delivery)

    async def configure(self, spec: Mapping[str, object]) -> None:
        """Apply the control API's ``{target?, ca_file?, ca_pem?, enabled?}`` (InvalidSetting)."""
        target, trust, enabled = patched(self.settings, spec)
        if trust != self.settings.trust:
            self._verify = trust.context()
            old, self._client = self._client, None
            if old is not None:
                await old.aclose()  # a send in flight on it fails and is retried on the new one
        self.settings.target, self.settings.trust, self.settings.enabled = target, trust, enabled

    def set_mode(self, mode: Mode, provider: str | None) -> None:
        """``mode`` for ``provider``'s future events, or every provider's when None."""
        for name in PROVIDERS if provider is None else (provider,):
            self.settings.modes[name] = mode

    async def flush(self, timeout_s: float) -> tuple[list[Record], int]:
        """Release the held events newest first and wait until every lane is idle (at most
        ``timeout_s``): (the deliveries finished meanwhile, how many are still pending)."""
        start = self.records.last_seq
        held, self._held = self._held, []
        for delivery in reversed(held):
            self._enqueue(delivery)
        idle = asyncio.gather(*(queue.join() for queue, _ in self._lanes.values()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle, timeout_s)
        return self.records.listed(after_seq=start), self._pending

    def reset(self) -> None:
        """Forget held and queued events, records and modes (target and trust stay)."""
        self._held.clear()
        for queue, _ in self._lanes.values():
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
                self._pending -= 1
        self.records.clear()
        self.dropped = 0
        self.set_mode(Mode.NORMAL, None)

    def to_json(self) -> dict[str, object]:
        """The settings plus counters, for ``GET /_control/webhooks``."""
        return {
            **self.settings.to_json(),
            "delay_ms": self._config.webhook_delay_ms,
            "held": len(self._held),
            "pending": self._pending,
            "dropped": self.dropped,
            "sent": len(self.records),
            # Every delivery finished since start; "sent" counts only the records still kept.
            "finished": self.records.last_seq,
        }

    async def close(self) -> None:
        """Stop every lane (what is queued is not sent) and close the HTTP client."""
        tasks = [task for _, task in self._lanes.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _enqueue(self, delivery: _Delivery) -> None:
        event = delivery.event
        # crc32, not hash(): the same object picks the same lane in every process.
        key = (event.provider, zlib.crc32(event.about.encode()) % self._lane_count)
        lane = self._lanes.get(key)
        if lane is None:
            queue: asyncio.Queue[_Delivery] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(
                self._work(queue), name=f"webhooks-{key[0]}-{key[1]}"
            )
            lane = self._lanes[key] = (queue, task)
        self._pending += 1
        lane[0].put_nowait(delivery)

    async def _work(self, queue: asyncio.Queue[_Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except Exception:  # log.exception keeps it seen; the lane must outlive one bad delivery
                log.exception("webhook delivery of %s failed", delivery.event.event_id)
            finally:
                self._pending -= 1
                queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        loop = asyncio.get_running_loop()
        wait_s = delivery.due - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        event = delivery.event
        record = Record(event.provider, event.event_id, event.type, str(delivery.mode), "")
        for pause_s in (*self._retry_delays_s, None):
            record.url = f"{self.settings.target}{PATH}{event.provider}"
            record.attempts.append(await self._attempt(delivery, record.url))
            if record.delivered or pause_s is None:
                break
            await asyncio.sleep(pause_s)
        self.records.add(record)

    async def _attempt(self, delivery: _Delivery, url: str) -> Outcome:
        if not self.settings.target:
            return "no target configured"
        now_s = int(time.time())
        unix_s = now_s - STALE_BY_S if delivery.mode is Mode.STALE else now_s
        how = Signing(self._config, unix_s, corrupt=delivery.mode is Mode.BAD_SIGNATURE)
        event = delivery.event
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **SIGNERS[event.provider](event, how),
        }
        try:
            reply = await self._http().post(url, content=event.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return reply.status_code

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env off: an HTTP(S)_PROXY in a developer's shell must not reroute loopback.
            self._client = httpx.AsyncClient(
                verify=self._verify, timeout=ATTEMPT_TIMEOUT_S, trust_env=False
            )
        return self._client
