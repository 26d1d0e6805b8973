"""Test support for the gateway's service layer: clocks, ledger and audit recorders, renders.

The ledger and audit ports are in-memory recorders here (the e2e tests use the real ledger
through Envoy): ``LedgerRecorder`` keeps TigerBeetle-style totals per account code, enforces
request-id idempotency (same id, same content: the first result; other content: refused),
holds (post in full or in part, the rest released; void), and the payable account's
"never negative" flag, so a wrong posting plan fails here the way the ledger would refuse it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from gateway_svc.adapters.audit_client import AuditEvent, AuditRefused
from gateway_svc.adapters.internal_rpc import UpstreamError
from gateway_svc.adapters.ledger_client import LedgerRefused, LedgerUnavailable, NewTransaction
from gateway_svc.adapters.providers.authorizenet import AuthorizeNetConfig, AuthorizeNetProvider
from gateway_svc.adapters.providers.http import HttpConfig
from gateway_svc.adapters.providers.paypal import PayPalConfig, PayPalProvider
from gateway_svc.adapters.providers.razorpay import RazorpayConfig, RazorpayProvider
from gateway_svc.adapters.providers.stripe import StripeConfig, StripeProvider
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.idempotency import StoredResponse
from gateway_svc.domain.ledger_accounts import AccountSpec
from gateway_svc.domain.ledger_expected import AccountTotals
from gateway_svc.domain.providers import Provider
from gateway_svc.domain.refunds import Refund
from gateway_svc.domain.retry import RetryPolicy
from gateway_svc.service_layer.commands import PaymentView
from gateway_svc.service_layer.ports import PaymentProvider
from sandbox.testing import SandboxHandle

FAST_RETRY = RetryPolicy(base_s=0.001, cap_s=0.005, max_attempts=3, max_wait_s=1.0)
"""Retries without waiting: the tests drive faults, not backoff timing."""


class Clock:
    """Wall time plus an offset a test moves forward (a lock timeout, a cool-down)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class _Tx:
    request_id: str
    entries: tuple[tuple[str, str, int, str], ...]
    pending: bool
    status: str  # POSTED, PENDING, VOIDED, POSTED_FROM_HOLD
    content: str


@dataclass
class LedgerRecorder:
    """An in-memory LedgerPort (see the module docstring)."""

    accounts: dict[str, str] = field(default_factory=dict)
    flagged: set[str] = field(default_factory=set)
    totals: dict[str, AccountTotals] = field(default_factory=dict)
    txs: dict[str, _Tx] = field(default_factory=dict)
    by_request: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    """How many next calls answer LedgerUnavailable (a ledger outage)."""
    refuse: dict[str, str] = field(default_factory=dict)
    """request id -> the reason to refuse it with."""
    batches: list[int] = field(default_factory=list)
    """The size of every ``create_transactions`` call."""

    def _gate(self, op: str, request_id: str) -> None:
        self.calls.append((op, request_id))
        if self.fail_next > 0:
            self.fail_next -= 1
            raise LedgerUnavailable("ledger down", code=grpc.StatusCode.UNAVAILABLE)
        if request_id in self.refuse:
            reason = self.refuse[request_id]
            raise LedgerRefused(
                f"refused {request_id}", code=grpc.StatusCode.FAILED_PRECONDITION, reason=reason
            )

    async def ensure_accounts(self, chart: Iterable[AccountSpec]) -> Mapping[str, str]:
        out = {}
        for spec in chart:
            self._gate("ensure", spec.request_id)
            acct = self.accounts.setdefault(spec.code, f"acct_{len(self.accounts) + 1}")
            if spec.debits_must_not_exceed_credits:
                self.flagged.add(spec.code)
            out[spec.code] = acct
        return out

    def _add(self, code: str, side: str, amount: int, pending: bool, sign: int = 1) -> None:
        if code not in self.accounts:
            raise LedgerRefused(
                f"no account {code}", code=grpc.StatusCode.NOT_FOUND, reason="ACCOUNT_NOT_FOUND"
            )
        t = self.totals.get(code, AccountTotals())
        d = sign * amount
        debit = side == "DEBIT"
        self.totals[code] = AccountTotals(
            t.debits_posted + (d if debit and not pending else 0),
            t.credits_posted + (d if not debit and not pending else 0),
            t.debits_pending + (d if debit and pending else 0),
            t.credits_pending + (d if not debit and pending else 0),
        )

    def _over_limit(self) -> str | None:
        for code in self.flagged:
            t = self.totals.get(code, AccountTotals())
            if t.debits_posted + t.debits_pending > t.credits_posted:
                return code
        return None

    async def create_transaction(
        self,
        entries: Sequence[tuple[str, str, int, str]],
        *,
        request_id: str,
        pending: bool = False,
        pending_timeout_s: float | None = None,
        external_ref: str = "",
        metadata: Mapping[str, str] | None = None,
        description: str = "",
    ) -> str:
        self._gate("create", request_id)
        content = json.dumps([list(e) for e in entries] + [pending])
        if request_id in self.by_request:
            tx = self.txs[self.by_request[request_id]]
            if tx.content != content:
                raise LedgerRefused(
                    "reused", code=grpc.StatusCode.ALREADY_EXISTS, reason="REQUEST_ID_REUSED"
                )
            return self.by_request[request_id]
        tx_id = f"tx_{len(self.txs) + 1}"
        for code, side, amount, _currency in entries:
            self._add(code, side, amount, pending)
        if (over := self._over_limit()) is not None:
            for code, side, amount, _currency in entries:
                self._add(code, side, amount, pending, sign=-1)
            raise LedgerRefused(
                f"{over} would go negative", code=grpc.StatusCode.FAILED_PRECONDITION,
                reason="LIMIT_EXCEEDED",
            )  # fmt: skip
        self.txs[tx_id] = _Tx(request_id, tuple(entries), pending,
                              "PENDING" if pending else "POSTED", content)  # fmt: skip
        self.by_request[request_id] = tx_id
        return tx_id

    async def create_transactions(
        self, items: Sequence[NewTransaction]
    ) -> list[str | UpstreamError]:
        """The batch call, INDEPENDENT mode: each item on its own, its failure its own."""
        self.batches.append(len(items))
        out: list[str | UpstreamError] = []
        for item in items:
            try:
                out.append(await self.create_transaction(
                    item.entries, request_id=item.request_id, pending=item.pending,
                    pending_timeout_s=item.pending_timeout_s, external_ref=item.external_ref,
                    metadata=item.metadata, description=item.description,
                ))  # fmt: skip
            except UpstreamError as exc:
                out.append(exc)
        return out

    async def post(
        self, transaction_id: str, *, request_id: str, amount_minor: int | None = None
    ) -> None:
        self._gate("post", request_id)
        if request_id in self.by_request:
            return
        tx = self.txs[transaction_id]
        if tx.status != "PENDING":
            raise LedgerRefused(
                "not pending", code=grpc.StatusCode.FAILED_PRECONDITION,
                reason="TRANSACTION_NOT_PENDING",
            )  # fmt: skip
        for code, side, amount, _c in tx.entries:
            self._add(code, side, amount, True, sign=-1)
            self._add(code, side, amount if amount_minor is None else amount_minor, False)
        tx.status = "POSTED_FROM_HOLD"
        self.by_request[request_id] = transaction_id

    async def void(self, transaction_id: str, *, request_id: str) -> None:
        self._gate("void", request_id)
        if request_id in self.by_request:
            return
        tx = self.txs[transaction_id]
        for code, side, amount, _c in tx.entries:
            self._add(code, side, amount, True, sign=-1)
        tx.status = "VOIDED"
        self.by_request[request_id] = transaction_id

    async def reverse(self, transaction_id: str, *, request_id: str) -> str:
        """ReverseTransaction: a posted mirror of a posted transaction (the FX relay's)."""
        self._gate("reverse", request_id)
        if request_id in self.by_request:
            return self.by_request[request_id]
        tx = self.txs[transaction_id]
        if tx.status not in ("POSTED", "POSTED_FROM_HOLD"):
            raise LedgerRefused(
                "not posted", code=grpc.StatusCode.FAILED_PRECONDITION,
                reason="TRANSACTION_NOT_REVERSIBLE",
            )  # fmt: skip
        mirrored = [
            (c, "CREDIT" if s == "DEBIT" else "DEBIT", a, cur) for c, s, a, cur in tx.entries
        ]
        return await self.create_transaction(mirrored, request_id=request_id)

    def holds(self) -> list[_Tx]:
        """Transactions created as holds (pending at creation), any status now."""
        return [tx for tx in self.txs.values() if tx.pending]


@dataclass
class AuditRecorder:
    """An in-memory AuditPort: appends, idempotent by event id."""

    events: dict[str, AuditEvent] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    """The size of every call, refused ones included."""
    refuse: set[str] = field(default_factory=set)
    """Event ids identity refuses (a call holding one records nothing: all or none)."""

    async def record(self, events: Sequence[AuditEvent]) -> object:
        self.batches.append(len(events))
        if bad := [e.event_id for e in events if e.event_id in self.refuse]:
            raise AuditRefused(
                f"refused {bad}", code=grpc.StatusCode.INVALID_ARGUMENT, reason="VALIDATION_FAILED"
            )
        for event in events:
            self.events.setdefault(event.event_id, event)
        return list(events)

    def actions(self) -> list[str]:
        return sorted(e.action for e in self.events.values())


def render_payment(value: PaymentView | GatewayError) -> StoredResponse:
    """A stand-in for the entrypoint's serializer: JSON bytes, gRPC-like codes."""
    if isinstance(value, GatewayError):
        error = {"reason": value.reason, "message": str(value), "metadata": value.metadata}
        return StoredResponse(14 if value.reason.endswith("AVAILABLE") else 9, _dumps(error))
    p = value.payment
    shown: dict[str, object] = {
        "id": p.id,
        "status": p.status.value,
        "authorized": p.authorized_minor,
        "captured": p.captured_minor,
        "refunded": p.refunded_minor,
        "provider": p.provider.value if p.provider else "",
        "decline": p.decline.code.value if p.decline else "",
        "attempts": len(value.attempts),
    }
    return StoredResponse(0, _dumps(shown))


def render_refund(value: Refund | GatewayError) -> StoredResponse:
    """The same for refunds."""
    if isinstance(value, GatewayError):
        return StoredResponse(9, _dumps({"reason": value.reason}))
    shown = {"id": value.id, "status": value.status.value, "amount": value.amount_minor}
    return StoredResponse(0, _dumps(shown))


def body(response: StoredResponse) -> dict[str, Any]:
    """A rendered response's JSON."""
    loaded: dict[str, Any] = json.loads(response.body)
    return loaded


def _dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def sandbox_providers_for(
    sandbox: SandboxHandle, *, timeout_s: float = 5.0, only: Iterable[Provider] | None = None
) -> dict[Provider, PaymentProvider]:
    """The four real adapters pointed at the sandbox over TLS (dev CA)."""
    cfg = sandbox.config

    def http(name: str) -> HttpConfig:
        return HttpConfig(
            base_url=sandbox.base_url(name),
            ca_file=str(sandbox.ca_file),
            timeout_s=timeout_s,
            connect_timeout_s=1.0,
        )

    built: dict[Provider, PaymentProvider] = {
        Provider.STRIPE: StripeProvider(StripeConfig(http("stripe"), cfg.stripe_secret_key)),
        Provider.AUTHORIZENET: AuthorizeNetProvider(
            AuthorizeNetConfig(
                http("authorizenet"), cfg.authorizenet_login_id, cfg.authorizenet_transaction_key
            )
        ),
        Provider.RAZORPAY: RazorpayProvider(
            RazorpayConfig(http("razorpay"), cfg.razorpay_key_id, cfg.razorpay_key_secret)
        ),
        Provider.PAYPAL: PayPalProvider(
            PayPalConfig(http("paypal"), cfg.paypal_client_id, cfg.paypal_client_secret)
        ),
    }
    wanted = set(only) if only is not None else set(built)
    return {p: a for p, a in built.items() if p in wanted}
