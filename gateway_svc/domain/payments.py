"""The Payment aggregate and its state machine.

    CREATED --> REQUIRES_ACTION (3DS) --> AUTHORIZED --> CAPTURED | PARTIALLY_CAPTURED
       |              |                      |
       +--------------+----------------------+--> CANCELED
       +--------------+--> FAILED (a decline: code, message, the provider's raw code)
    CREATED | REQUIRES_ACTION | AUTHORIZED --> UNKNOWN (a call's outcome is not known)
    UNKNOWN --> whatever the provider says it is (the reconciler's ``apply_provider_view``)

Automatic capture goes from CREATED (or REQUIRES_ACTION) straight to CAPTURED and emits both
``PaymentAuthorized`` and ``PaymentCaptured``, so the ledger sees a hold and its post either way.

One capture per authorization, as Stripe, Authorize.net (priorAuthCapture) and Razorpay work:
capturing less than authorized releases the rest and ends in PARTIALLY_CAPTURED. CAPTURED,
PARTIALLY_CAPTURED, CANCELED and FAILED are final: only refunds follow, tracked by
``refunds.Refund`` and summed into ``refunded_minor``.

Two kinds of methods: ``ensure_*`` check a merchant's request before any provider call and
raise the specific ``IllegalTransition``; the transition methods record what a provider did,
mutate, bump ``version`` and return events. Events are tied to changes of amounts and states,
so no provider view can emit the same money movement twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from svc_kit.faults import FieldViolation

from . import errors
from .cards import CardSummary
from .events import (
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    PaymentRequiresAction,
    PaymentUnknown,
    ProviderFeeReported,
)
from .providers import ChargeStatus, Decline, DeclineCode, Provider, ProviderCharge


class PaymentStatus(StrEnum):
    """Where a payment stands; see the module docstring for the transitions."""

    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    AUTHORIZED = "authorized"
    PARTIALLY_CAPTURED = "partially_captured"
    CAPTURED = "captured"
    CANCELED = "canceled"
    FAILED = "failed"
    UNKNOWN = "unknown"


class CaptureMethod(StrEnum):
    """AUTOMATIC captures with the authorization; MANUAL waits for the merchant's capture."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


S = PaymentStatus
FINAL: frozenset[PaymentStatus] = frozenset(
    {S.CAPTURED, S.PARTIALLY_CAPTURED, S.CANCELED, S.FAILED}
)
_PRE_AUTH = frozenset({S.CREATED, S.REQUIRES_ACTION, S.UNKNOWN})

TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.REQUIRES_ACTION: frozenset({S.CREATED, S.UNKNOWN}),
    S.AUTHORIZED: _PRE_AUTH,
    S.CAPTURED: _PRE_AUTH | {S.AUTHORIZED},
    S.PARTIALLY_CAPTURED: _PRE_AUTH | {S.AUTHORIZED},
    S.CANCELED: _PRE_AUTH | {S.AUTHORIZED},
    S.FAILED: _PRE_AUTH,
    S.UNKNOWN: frozenset({S.CREATED, S.REQUIRES_ACTION, S.AUTHORIZED}),
}
"""Target status -> the statuses it may be reached from. Nothing reaches CREATED."""


@dataclass(frozen=True, slots=True)
class MethodSummary:
    """What paid, as far as we may keep it: a card's summary, or the kind of a provider token
    (its prefix, ``pm`` for ``pm_card_visa``). Exactly one of the two is set."""

    card: CardSummary | None = None
    token_kind: str = ""


@dataclass
class Payment:
    """One merchant payment, across however many provider attempts it took.

    Invariants (asserted after every transition): 0 <= captured <= authorized <= amount,
    0 <= refunded <= captured.
    """

    id: str
    merchant_id: str
    amount_minor: int
    currency: str
    capture_method: CaptureMethod
    method: MethodSummary
    create_time: datetime
    update_time: datetime
    status: PaymentStatus = PaymentStatus.CREATED
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    provider: Provider | None = None
    provider_ref: str = ""
    provider_refs: dict[str, str] = field(default_factory=dict)
    decline: Decline | None = None
    action_url: str = ""
    merchant_reference: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    fee_minor: int | None = None
    version: int = 0

    # -- reading ---------------------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        """True once the status can no longer change (refunds may still follow)."""
        return self.status in FINAL

    def error_metadata(self) -> dict[str, str]:
        """What an ErrorInfo about this payment carries: enough to act without a lookup."""
        return {
            "payment_id": self.id,
            "status": self.status.value,
            "currency": self.currency,
            "amount_minor": str(self.amount_minor),
            "authorized_minor": str(self.authorized_minor),
            "captured_minor": str(self.captured_minor),
            "refunded_minor": str(self.refunded_minor),
        }

    # -- a merchant's requests, checked before any provider call ---------------------------

    def ensure_capturable(self, amount_minor: int | None, path: str = "amount.minor_units") -> int:
        """The amount to capture (None: all authorized), or the reason a capture is refused."""
        if self.status is S.UNKNOWN:
            raise self._refusal(errors.PaymentOutcomeUnknown, "its outcome is not known yet")
        if self.status in (S.CAPTURED, S.PARTIALLY_CAPTURED):
            raise self._refusal(errors.PaymentAlreadyCaptured, "it was already captured")
        if self.status is not S.AUTHORIZED:
            raise self._refusal(errors.PaymentNotCapturable, "it is not authorized")
        amount = self.authorized_minor if amount_minor is None else amount_minor
        if amount <= 0:
            raise errors.ValidationFailed(
                f"invalid capture: {path} must be positive",
                metadata=self.error_metadata(),
                violations=[FieldViolation(path, "must be a positive amount")],
            )
        if amount > self.authorized_minor:
            raise self._refusal(
                errors.CaptureExceedsAuthorized,
                f"{amount} exceeds the authorized {self.authorized_minor}",
                requested_minor=str(amount),
            )
        return amount

    def ensure_cancelable(self) -> None:
        """Refuse a cancel of a final payment, or of one whose outcome is unknown."""
        if self.status is S.UNKNOWN:
            raise self._refusal(errors.PaymentOutcomeUnknown, "its outcome is not known yet")
        if self.status not in (S.CREATED, S.REQUIRES_ACTION, S.AUTHORIZED):
            raise self._refusal(errors.PaymentNotCancelable, "it is final")

    def _refusal(
        self, cls: type[errors.IllegalTransition], why: str, **extra: str
    ) -> errors.IllegalTransition:
        return cls(
            f"payment {self.id} is {self.status.value}: {why}",
            metadata={**self.error_metadata(), **extra},
        )

    # -- transitions: what a provider did --------------------------------------------------

    def require_action(self, action_url: str, now: datetime) -> list[PaymentEvent]:
        """The payer must authenticate (3DS) before the authorization completes."""
        self._enter(S.REQUIRES_ACTION, now)
        self.action_url = action_url
        return [PaymentRequiresAction(self.id, now, action_url)]

    def authorize(self, now: datetime, authorized_minor: int | None = None) -> list[PaymentEvent]:
        """Funds are held (manual capture). The hold is announced only the first time."""
        assert authorized_minor is None or 0 < authorized_minor <= self.amount_minor, self
        self._enter(S.AUTHORIZED, now)
        return self._hold(authorized_minor, now)

    def capture(
        self, captured_minor: int, now: datetime, authorized_minor: int | None = None
    ) -> list[PaymentEvent]:
        """``captured_minor`` was captured; an automatic capture also records the hold."""
        authorized = self.authorized_minor or authorized_minor or self.amount_minor
        assert 0 < captured_minor <= authorized <= self.amount_minor, (captured_minor, authorized)
        target = S.CAPTURED if captured_minor >= self.amount_minor else S.PARTIALLY_CAPTURED
        self._enter(target, now)
        events = self._hold(authorized, now)
        self.captured_minor = captured_minor
        released = self.authorized_minor - captured_minor
        events.append(PaymentCaptured(self.id, now, captured_minor, released, self.currency))
        self._check()
        return events

    def cancel(self, now: datetime) -> list[PaymentEvent]:
        """The authorization was voided (or never made); any hold is released."""
        self._enter(S.CANCELED, now)
        return [PaymentCanceled(self.id, now, self.authorized_minor, self.currency)]

    def fail(self, decline: Decline, now: datetime) -> list[PaymentEvent]:
        """The payment ended without money moving: a decline, or no provider could take it."""
        self._enter(S.FAILED, now)
        self.decline = decline
        return [PaymentFailed(self.id, now, decline)]

    def mark_unknown(self, now: datetime) -> list[PaymentEvent]:
        """A call was sent and no answer came: the provider may have acted. Reconcile."""
        self._enter(S.UNKNOWN, now)
        return [PaymentUnknown(self.id, now)]

    def report_fee(self, fee_minor: int, now: datetime) -> list[PaymentEvent]:
        """Record the provider's fee; an event only when it is new or changed."""
        if fee_minor == self.fee_minor:
            return []
        assert self.provider is not None and fee_minor >= 0, (self.provider, fee_minor)
        self.fee_minor = fee_minor
        self._touch(now)
        return [ProviderFeeReported(self.id, now, self.provider, fee_minor, self.currency)]

    def _enter(self, target: PaymentStatus, now: datetime) -> None:
        if self.status not in TRANSITIONS[target]:
            raise errors.IllegalTransition(
                f"payment {self.id} cannot go from {self.status.value} to {target.value}",
                metadata={**self.error_metadata(), "to_status": target.value},
            )
        self.status = target
        self._touch(now)

    def _hold(self, authorized_minor: int | None, now: datetime) -> list[PaymentEvent]:
        if self.authorized_minor:
            return []
        self.authorized_minor = authorized_minor or self.amount_minor
        self._check()
        return [PaymentAuthorized(self.id, now, self.authorized_minor, self.currency)]

    def _touch(self, now: datetime) -> None:
        self.version += 1
        self.update_time = now

    def _check(self) -> None:
        assert 0 <= self.captured_minor <= self.authorized_minor <= self.amount_minor, self
        assert 0 <= self.refunded_minor <= self.captured_minor, self

    # -- the provider's truth --------------------------------------------------------------

    def apply_provider_view(
        self, charge: ProviderCharge, now: datetime, provider: Provider | None = None
    ) -> list[PaymentEvent]:
        """Bring the payment to what the provider says, idempotently.

        Used after every provider call (``provider`` names it the first time) and by the
        reconciler for UNKNOWN payments. The same view applied twice changes nothing the second
        time and emits nothing. A view that cannot follow from the current state (a final
        payment the provider sees differently, other amounts, another provider_ref) raises
        ``ProviderViewConflict`` and changes nothing.
        """
        self._bind(charge, provider)
        target, authorized, captured = self._reading(charge)
        events: list[PaymentEvent] = []
        if target is not self.status:
            if self.status not in TRANSITIONS[target]:
                raise self._conflict(charge, target)
            events = self._follow(target, charge, authorized, captured, now)
        before = (self.provider, self.provider_ref, dict(self.provider_refs), self.action_url)
        self.provider = self.provider or provider
        self.provider_ref = self.provider_ref or charge.provider_ref
        self.provider_refs.update(charge.refs)
        if charge.status is ChargeStatus.REQUIRES_ACTION:
            self.action_url = charge.action_url
        changed = before != (self.provider, self.provider_ref, self.provider_refs, self.action_url)
        if changed and not events:
            self._touch(now)
        if charge.fee_minor is not None:
            events += self.report_fee(charge.fee_minor, now)
        return events

    def _bind(self, charge: ProviderCharge, provider: Provider | None) -> None:
        """Refuse a view of another provider's payment before anything changes."""
        if provider is not None and self.provider not in (None, provider):
            raise self._conflict(charge, self.status, view_provider=provider.value)
        if self.provider is None and provider is None:
            raise ValueError("the first provider view must name its provider")
        if self.provider_ref and charge.provider_ref not in ("", self.provider_ref):
            raise self._conflict(charge, self.status, view_provider_ref=charge.provider_ref)

    def _reading(self, charge: ProviderCharge) -> tuple[PaymentStatus, int, int]:
        """The status and the (authorized, captured) amounts a view means.

        A provider that leaves an amount out (0) means "all of it": the amount already known,
        else the payment's amount. Amounts that contradict ours raise a conflict.
        """
        target = _STATUS_OF[charge.status]
        authorized = charge.authorized_minor or self.authorized_minor or self.amount_minor
        captured = 0
        if charge.status is ChargeStatus.CAPTURED:
            captured = charge.captured_minor or authorized
            target = S.CAPTURED if captured >= self.amount_minor else S.PARTIALLY_CAPTURED
        if target in (S.AUTHORIZED, S.CAPTURED, S.PARTIALLY_CAPTURED) and (
            (self.authorized_minor and authorized != self.authorized_minor)
            or (self.captured_minor and captured != self.captured_minor)
            or not 0 <= captured <= authorized <= self.amount_minor
        ):
            raise self._conflict(charge, target)
        return target, authorized, captured

    def _follow(
        self,
        target: PaymentStatus,
        charge: ProviderCharge,
        authorized: int,
        captured: int,
        now: datetime,
    ) -> list[PaymentEvent]:
        if target is S.REQUIRES_ACTION:
            return self.require_action(charge.action_url, now)
        if target is S.AUTHORIZED:
            return self.authorize(now, authorized)
        if target in (S.CAPTURED, S.PARTIALLY_CAPTURED):
            return self.capture(captured, now, authorized)
        if target is S.CANCELED:
            return self.cancel(now)
        if target is S.FAILED:
            return self.fail(charge.decline or _unexplained(charge), now)
        return self.mark_unknown(now)

    def _conflict(
        self, charge: ProviderCharge, target: PaymentStatus, **extra: str
    ) -> errors.ProviderViewConflict:
        return errors.ProviderViewConflict(
            f"payment {self.id} is {self.status.value}; the provider says {charge.status.value}",
            metadata={
                **self.error_metadata(),
                "to_status": target.value,
                "view_status": charge.raw_status or charge.status.value,
                "view_authorized_minor": str(charge.authorized_minor),
                "view_captured_minor": str(charge.captured_minor),
                **extra,
            },
        )


_STATUS_OF: dict[ChargeStatus, PaymentStatus] = {
    ChargeStatus.REQUIRES_ACTION: S.REQUIRES_ACTION,
    ChargeStatus.AUTHORIZED: S.AUTHORIZED,
    ChargeStatus.CAPTURED: S.CAPTURED,
    ChargeStatus.CANCELED: S.CANCELED,
    ChargeStatus.DECLINED: S.FAILED,
    # The provider has not decided: to us that is UNKNOWN, since either way the reconciler
    # has to ask again later.
    ChargeStatus.PENDING: S.UNKNOWN,
}


def _unexplained(charge: ProviderCharge) -> Decline:
    """A DECLINED view without a reason still needs one for the merchant."""
    return Decline(
        DeclineCode.GENERIC_DECLINE, "the provider declined the payment", charge.raw_status
    )
