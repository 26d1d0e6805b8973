"""The record of every call a payment made to a provider, and why that provider was chosen.

Support answers "why did this payment fail over to Authorize.net?" from these rows alone:
what was asked (a summary: amount, currency, brand and last four, never a number or a CVC),
what came back, how long it took, and the routing decision behind it. Attempts are values:
the constructor makes a PENDING one, ``finish_*`` returns the finished copy, and
``to_dict``/``from_dict`` store it as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from .cards import CardBrand, CardSummary
from .payments import MethodSummary
from .providers import (
    ChargeStatus,
    DeclineCode,
    ErrorKind,
    Provider,
    ProviderCharge,
    ProviderError,
)


class Operation(StrEnum):
    """Which provider call an attempt made."""

    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    CANCEL = "cancel"
    REFUND = "refund"
    LOOKUP = "lookup"


class Outcome(StrEnum):
    """How a provider call ended, in the terms failover and reconciliation use."""

    PENDING = "pending"
    """Not finished yet (or the process died during the call: the reconciler's cue)."""
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    RETRIABLE_ERROR = "retriable_error"
    UNKNOWN = "unknown"
    INVALID = "invalid"


_OUTCOME_OF_KIND = {
    ErrorKind.DECLINED: Outcome.DECLINED,
    ErrorKind.RETRIABLE: Outcome.RETRIABLE_ERROR,
    ErrorKind.UNKNOWN: Outcome.UNKNOWN,
    ErrorKind.INVALID: Outcome.INVALID,
}


class SkipReason(StrEnum):
    """Why routing passed over a provider without calling it.

    The values of ``routing.SkipReason`` plus the ones only the service layer knows (a test
    card and a live provider), spelled the same so a routing decision is stored as it is."""

    DISABLED = "disabled"
    CURRENCY_UNSUPPORTED = "currency_unsupported"
    METHOD_UNSUPPORTED = "method_unsupported"
    PARTIAL_CAPTURE_UNSUPPORTED = "partial_capture_unsupported"
    VOID_UNSUPPORTED = "void_unsupported"
    RAW_CARDS_UNSUPPORTED = "raw_cards_unsupported"
    BREAKER_OPEN = "breaker_open"
    NOT_ROUTED = "not_routed"
    TEST_CARD_LIVE_MODE = "test_card_live_mode"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A provider routing passed over, and why."""

    provider: Provider
    reason: str
    """A ``SkipReason`` value; a plain string so a newer reason still loads in older code."""


class _Decision(Protocol):
    """What ``routing.RoutingDecision`` offers (read structurally, so neither module imports
    the other and a stored record never changes shape when routing's types do)."""

    @property
    def candidates(self) -> tuple[Provider, ...]: ...
    @property
    def skipped(self) -> Sequence[tuple[Provider, str]]: ...
    @property
    def rule_id(self) -> str: ...
    @property
    def all_open(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RoutingRecord:
    """How routing chose this attempt's provider, as stored with the attempt."""

    candidates: tuple[Provider, ...]
    """The providers in the order routing would try them."""
    position: int
    """This attempt's provider's index in ``candidates`` (0: the first choice)."""
    skipped: tuple[Skipped, ...] = ()
    rule: str = ""
    """The id of the routing rule that produced ``candidates``."""
    all_open: bool = False
    """Every candidate's breaker was open, so this one was let through to probe."""

    @classmethod
    def of(cls, decision: _Decision, position: int) -> RoutingRecord:
        """The record of a routing decision, for the attempt at ``position``."""
        assert 0 <= position < len(decision.candidates), (position, decision.candidates)
        return cls(
            candidates=tuple(decision.candidates),
            position=position,
            skipped=tuple(Skipped(p, str(reason)) for p, reason in decision.skipped),
            rule=decision.rule_id,
            all_open=decision.all_open,
        )


@dataclass(frozen=True, slots=True)
class RequestSummary:
    """What the attempt asked for, without anything secret."""

    amount_minor: int
    currency: str
    method: MethodSummary


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider on behalf of one payment (or one of its refunds)."""

    id: str
    payment_id: str
    operation: Operation
    provider: Provider
    idempotency_key: str
    """The key sent to the provider, so a retry of this very attempt repeats it."""
    request: RequestSummary
    routing: RoutingRecord | None
    started_at: datetime
    refund_id: str = ""
    outcome: Outcome = Outcome.PENDING
    error_kind: ErrorKind | None = None
    decline_code: DeclineCode | None = None
    raw_code: str = ""
    http_status: int | None = None
    message: str = ""
    provider_ref: str = ""
    latency_ms: int | None = None
    finished_at: datetime | None = None

    def finish_with_charge(
        self, charge: ProviderCharge, finished_at: datetime, latency_ms: int
    ) -> Attempt:
        """The provider answered with a payment: a DECLINED one is a declined attempt."""
        declined = charge.status is ChargeStatus.DECLINED
        decline = charge.decline
        return replace(
            self,
            outcome=Outcome.DECLINED if declined else Outcome.SUCCEEDED,
            error_kind=ErrorKind.DECLINED if declined else None,
            decline_code=decline.code if decline is not None else None,
            raw_code=decline.raw_code if decline is not None else "",
            message=decline.message if decline is not None else "",
            provider_ref=charge.provider_ref,
            latency_ms=latency_ms,
            finished_at=finished_at,
        )

    def finish_ok(self, finished_at: datetime, latency_ms: int, provider_ref: str = "") -> Attempt:
        """The call succeeded (a refund, or a lookup that found nothing to report)."""
        return replace(
            self,
            outcome=Outcome.SUCCEEDED,
            provider_ref=provider_ref,
            latency_ms=latency_ms,
            finished_at=finished_at,
        )

    def finish_with_error(
        self, error: ProviderError, finished_at: datetime, latency_ms: int
    ) -> Attempt:
        """The call failed; the error's kind decides retry, failover or reconciliation."""
        return replace(
            self,
            outcome=_OUTCOME_OF_KIND[error.kind],
            error_kind=error.kind,
            decline_code=error.code,
            raw_code=error.raw_code,
            http_status=error.http_status,
            message=error.message,
            latency_ms=latency_ms,
            finished_at=finished_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as values, times as ISO 8601)."""
        return {
            "id": self.id,
            "payment_id": self.payment_id,
            "refund_id": self.refund_id,
            "operation": self.operation.value,
            "provider": self.provider.value,
            "idempotency_key": self.idempotency_key,
            "request": _request_to_dict(self.request),
            "routing": _routing_to_dict(self.routing),
            "started_at": self.started_at.isoformat(),
            "outcome": self.outcome.value,
            "error_kind": _value(self.error_kind),
            "decline_code": _value(self.decline_code),
            "raw_code": self.raw_code,
            "http_status": self.http_status,
            "message": self.message,
            "provider_ref": self.provider_ref,
            "latency_ms": self.latency_ms,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attempt:
        """The inverse of ``to_dict``."""
        return cls(
            id=d["id"],
            payment_id=d["payment_id"],
            refund_id=d.get("refund_id", ""),
            operation=Operation(d["operation"]),
            provider=Provider(d["provider"]),
            idempotency_key=d["idempotency_key"],
            request=_request_from_dict(d["request"]),
            routing=_routing_from_dict(d.get("routing")),
            started_at=datetime.fromisoformat(d["started_at"]),
            outcome=Outcome(d["outcome"]),
            error_kind=ErrorKind(d["error_kind"]) if d.get("error_kind") else None,
            decline_code=DeclineCode(d["decline_code"]) if d.get("decline_code") else None,
            raw_code=d.get("raw_code", ""),
            http_status=d.get("http_status"),
            message=d.get("message", ""),
            provider_ref=d.get("provider_ref", ""),
            latency_ms=d.get("latency_ms"),
            finished_at=datetime.fromisoformat(d["finished_at"]) if d.get("finished_at") else None,
        )


def _value(member: StrEnum | None) -> str | None:
    return member.value if member is not None else None


def _request_to_dict(r: RequestSummary) -> dict[str, Any]:
    card = r.method.card
    return {
        "amount_minor": r.amount_minor,
        "currency": r.currency,
        "token_kind": r.method.token_kind,
        "card": None
        if card is None
        else {
            "brand": card.brand.value,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
    }


def _request_from_dict(d: dict[str, Any]) -> RequestSummary:
    c = d.get("card")
    card = (
        None
        if c is None
        else CardSummary(CardBrand(c["brand"]), c["last4"], c["exp_month"], c["exp_year"])
    )
    method = MethodSummary(card=card, token_kind=d.get("token_kind", ""))
    return RequestSummary(d["amount_minor"], d["currency"], method)


def _routing_to_dict(r: RoutingRecord | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "candidates": [p.value for p in r.candidates],
        "position": r.position,
        "skipped": [{"provider": s.provider.value, "reason": s.reason} for s in r.skipped],
        "rule": r.rule,
        "all_open": r.all_open,
    }


def _routing_from_dict(d: dict[str, Any] | None) -> RoutingRecord | None:
    if d is None:
        return None
    return RoutingRecord(
        candidates=tuple(Provider(p) for p in d["candidates"]),
        position=d["position"],
        skipped=tuple(Skipped(Provider(s["provider"]), s["reason"]) for s in d["skipped"]),
        rule=d.get("rule", ""),
        all_open=d.get("all_open", False),
    )
