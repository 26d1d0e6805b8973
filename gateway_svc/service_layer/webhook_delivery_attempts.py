"""One webhook delivery attempt, and what its result does to the queue.

``attempt`` signs a claimed delivery with the endpoint's secrets that sign now (both during a
rotation's overlap) and sends it through the sender port; it never raises for the receiver's
or the network's failures, nor for a secret that does not open (that is recorded as a failed
attempt and retried on the schedule, so restoring the sealing key resumes delivery).

``record`` writes a batch of results in one transaction, in a few statements
(``WebhookDeliveryRepository.finish_many``), which is what makes a busy worker cheap:

- 2xx: delivered;
- 410 Gone: the endpoint is disabled, what it was owed canceled (``disabled_reason`` says
  why);
- anything else: the next attempt at ``domain.webhooks.next_attempt`` (the schedule, with
  the jitter and the receiver's Retry-After as a floor), or the dead letter after the last.

A result whose claim was taken over meanwhile (its lease ran out) is refused by the store's
fencing and counted as superseded: the worker that holds the claim now records its own.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway_svc.adapters.secret_box import SecretBox, SecretBoxError
from gateway_svc.adapters.webhook_delivery_store import Finished
from gateway_svc.adapters.webhook_records import (
    AttemptOutcome,
    AttemptResult,
    ClaimedDelivery,
    open_secrets,
)
from gateway_svc.adapters.webhook_sender import SendResult
from gateway_svc.domain.retry import Uniform
from gateway_svc.domain.webhooks import Outcome, active_secrets, headers, next_attempt

from .metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS, WEBHOOK_FAILURES
from .unit_of_work import GatewayUnitOfWork

_log = logging.getLogger(__name__)

GONE_REASON = "the receiver answered 410 Gone"
"""The endpoint's ``disabled_reason`` after a 410."""
SUPERSEDED = "superseded"
"""A result not recorded: the claim's lease ran out and another worker took the delivery."""
_WARN = (AttemptOutcome.ENDPOINT_GONE, AttemptOutcome.DEAD_LETTERED)


class WebhookSenderPort(Protocol):
    """Sends one signed attempt (``adapters.webhook_sender.WebhookSender``)."""

    async def send(
        self, url: str, headers: Mapping[str, str], body: bytes, allow_private: bool
    ) -> SendResult:
        """POST ``body`` to ``url``; every outcome is a SendResult, none raises."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections."""
        ...


@dataclass(frozen=True, slots=True)
class Attempted:
    """One attempt's result, before it is recorded."""

    claim: ClaimedDelivery
    result: AttemptResult
    outcome: Outcome
    retry_after_s: float | None = None
    failure: str = ""
    """Why it was not delivered, for the failures metric ("" when it was)."""


async def attempt(
    claim: ClaimedDelivery,
    sender: WebhookSenderPort,
    box: SecretBox,
    now: datetime,
    *,
    signed_at: datetime,
    allow_private: bool,
) -> Attempted:
    """Sign and send ``claim`` once, at ``now`` (which secrets still sign), stamped
    ``signed_at`` (the ``webhook-timestamp``: receivers compare it with their wall clock)."""
    try:
        secrets = active_secrets(open_secrets(box, claim.endpoint_id, claim.secrets), now)
        signed = headers(claim.event_id, int(signed_at.timestamp()), claim.document, secrets)
    except (SecretBoxError, ValueError) as exc:
        # Nothing is sent unsigned. An operator restores the key; the schedule retries.
        _log.error("webhook %s to endpoint %s not signed: %s", claim.event_id,
                   claim.endpoint_id, exc)  # fmt: skip
        result = AttemptResult(now, None, 0, f"not signed: {exc}")
        return Attempted(claim, result, Outcome.RETRY, failure="unsigned")
    try:
        sent = await sender.send(claim.url, signed, claim.document, allow_private)
    except Exception as exc:  # noqa: BLE001 - a sender bug must not lose the delivery
        _log.exception("webhook sender failed on %s", claim.event_id)
        result = AttemptResult(now, None, 0, f"{type(exc).__name__}: {exc}")
        return Attempted(claim, result, Outcome.RETRY, failure="internal")
    WEBHOOK_ATTEMPT_SECONDS.observe(sent.latency_ms / 1000)
    result = AttemptResult(
        started_at=now,
        status_code=sent.status_code,
        latency_ms=sent.latency_ms,
        error=_text(sent.error) if sent.error is not None else None,
        response_excerpt=_text(sent.response_excerpt),
    )
    return Attempted(claim, result, sent.outcome, sent.retry_after_s, _failure(sent))


def _text(value: str) -> str:
    # PostgreSQL's text refuses NUL; a receiver's binary answer must not make the result
    # unrecordable (and the delivery stuck behind a failing write).
    return value.replace("\x00", "\ufffd")


def _failure(sent: SendResult) -> str:
    if sent.outcome is Outcome.DELIVERED:
        return ""
    if sent.error_kind is not None:
        return sent.error_kind.value
    code = sent.status_code or 0
    return f"{code // 100}xx"


async def record(
    engine: AsyncEngine,
    attempted: Sequence[Attempted],
    clock: Callable[[], datetime],
    rng: Uniform,
) -> Counter[str]:
    """Record ``attempted`` in one transaction; how many of each result. If that fails (a
    result the database refuses), each is tried alone, so one bad row never holds the
    others; one that still fails is logged and left to its lease (attempted again later)."""
    try:
        return await _record(engine, attempted, clock, rng)
    except Exception:  # noqa: BLE001 - fall back to one transaction each, below
        if len(attempted) == 1:
            _log.exception("webhook result of %s not recorded", attempted[0].claim.event_id)
            return Counter()
    tally: Counter[str] = Counter()
    for one in attempted:
        try:
            tally += await _record(engine, [one], clock, rng)
        except Exception:  # noqa: BLE001 - logged; the lease brings the delivery back
            _log.exception("webhook result of %s not recorded", one.claim.event_id)
    return tally


async def _record(
    engine: AsyncEngine,
    attempted: Sequence[Attempted],
    clock: Callable[[], datetime],
    rng: Uniform,
) -> Counter[str]:
    now = clock()
    batch = [_finished(one, now, rng) for one in attempted]
    async with GatewayUnitOfWork(engine) as uow:
        held = await uow.webhook_deliveries.finish_many(batch, now)
        await uow.commit()
    tally: Counter[str] = Counter()
    for one, finished, ok in zip(attempted, batch, held, strict=True):
        tally[finished.outcome.value if ok else SUPERSEDED] += 1
        if not ok:
            # The lease ran out before the result came back: the lease is too short for
            # this receiver, or the worker was starved. The delivery is attempted again.
            _log.warning("webhook %s to endpoint %s: result not recorded, its claim lapsed",
                         finished.claim.event_id, finished.claim.endpoint_id)  # fmt: skip
        if one.failure:
            WEBHOOK_FAILURES.labels(one.failure).inc()
        if ok and finished.outcome in _WARN:
            claim = finished.claim
            _log.warning("webhook %s to endpoint %s: %s after attempt %d", claim.event_id,
                         claim.endpoint_id, finished.outcome.value, claim.attempt)  # fmt: skip
    for result, count in tally.items():
        WEBHOOK_ATTEMPTS.labels(result).inc(count)
    return tally


def _finished(one: Attempted, now: datetime, rng: Uniform) -> Finished:
    """What ``one``'s outcome does to its delivery: delivered, the endpoint gone, or the
    next attempt on the schedule (Retry-After as its floor), or the dead letter."""
    claim, result = one.claim, one.result
    if one.outcome is Outcome.DELIVERED:
        return Finished(claim, result, AttemptOutcome.DELIVERED)
    if one.outcome is Outcome.GONE:
        return Finished(claim, result, AttemptOutcome.ENDPOINT_GONE, reason=GONE_REASON)
    due = next_attempt(claim.round_attempt, now, rng, one.retry_after_s)
    if due is None:
        return Finished(claim, result, AttemptOutcome.DEAD_LETTERED)
    return Finished(claim, result, AttemptOutcome.RETRY_SCHEDULED, next_at=due)
