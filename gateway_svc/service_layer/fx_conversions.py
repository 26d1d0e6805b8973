"""CreateConversion in atomic phases with recovery points, the way CreatePayment runs.

    validate             a quote id XOR explicit terms; nothing stored if refused
    a  open the key      New / Replay / InFlight (ABORTED) / Mismatch / Resume
    b  STARTED           redeem the quote (compare-and-set; QUOTE_EXPIRED, QUOTE_ALREADY_USED)
                         or price the explicit terms (a fresh rate, a quote owned by this
                         conversion); the conversion PENDING; commit -> PAYMENT_CREATED
    b' (no transaction)  the ledger hold, one transaction with two currency legs, placed
                         synchronously (``fx_holds``): refused -> no provider call
    c  (no transaction)  create_conversion at the provider, unique_request_id from the
                         conversion's id, repeated while safe (``fx_calls``)
    d  PAYMENT_CREATED   apply the answer: booked -> post the hold; refused -> FAILED, void
                         it; no answer -> PENDING, the poller asks; the first status check;
                         audit; commit -> PROVIDER_CALLED
    e  PROVIDER_CALLED   render the conversion (or the error its state stands for), store
                         it; commit -> FINISHED

Why the conversion is committed before the hold: the hold's request id is derived from the
conversion's id, so the id must survive a crash, or a retry would hold the money a second
time under a new id. A client's retry resumed at PAYMENT_CREATED repeats b', c and d: the
ledger answers the same hold for the same request id, the provider the same conversion for
the same unique_request_id, so nothing happens twice.

Without the client (the completer, after the request died) nothing new is sent: the hold is
settled (placed again under its request id, which only finds it if it exists) and the
provider is asked what the conversion's id created (``find_conversion``); nothing there
means it never reached the provider, and the conversion fails, its hold released. Sending
the trade on the client's behalf could book one it was told had not happened, and that it
may since have made again under a new request id.

Answers and refusals:

- the conversion, in the state the provider left it (FAILED, with its ``failure_reason``,
  when the provider refused it);
- INSUFFICIENT_FUNDS or HOLD_REFUSED (the ledger refused the hold): stored and replayed;
- PROVIDER_UNAVAILABLE (every try failed, provably without effect): the conversion fails, its
  hold is released and the key is forgotten, so a retry with the same request_id runs
  afresh (with a quote id it then meets QUOTE_ALREADY_USED: a quote is consumed by the
  conversion that redeemed it, one conversion per quote being the database's rule too);
- LEDGER_UNAVAILABLE (the ledger did not answer the hold): the key is left for a retry with
  the same request_id, which resumes.

``request_id`` is optional (the contract only recommends it): without one the call gets a
key of its own, so it still runs in recovery phases, but a client retry is a new conversion.
"""

from __future__ import annotations

import logging
from datetime import datetime

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.conversions import (
    Conversion,
    ConversionState,
    ConversionTransition,
    open_conversion,
)
from gateway_svc.domain.errors import (
    GatewayError,
    ProviderViewConflict,
    QuoteAlreadyUsed,
    QuoteNotFound,
    ValidationFailed,
)
from gateway_svc.domain.fx import Quote, check_quote_request
from gateway_svc.domain.fx_postings import plan_conversion_hold
from gateway_svc.domain.fx_provider import ConversionView
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.ledger_accounts import Books
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from svc_kit.faults import FieldViolation

from . import keys
from .commands import Answer
from .finishing import leave_for_retry
from .fx_calls import FxCaller, FxStep, FxTried
from .fx_commands import CreateConversion, RenderConversion
from .fx_effects import PollPolicy, audit, conversion_details, enqueue_conversion_changes
from .fx_holds import (
    FailureCode,
    HoldDenied,
    HoldUnreachable,
    failure,
    failure_code,
    failure_error,
    place_hold,
    release_for_retry,
    unreachable,
)
from .fx_quotes import QuoteDesk
from .fx_uow import FxUnitOfWork
from .keys import KeyHold, Replayed
from .ports import LedgerPort
from .runtime import GatewayRuntime

_log = logging.getLogger(__name__)
CONVERT = "fx.conversions.create"
ACTION = "gateway.conversion.create"
Outcome = HoldDenied | FxTried[ConversionView] | None
ABANDONED = ProviderError(
    ErrorKind.RETRIABLE,
    DeclineCode.PROVIDER_UNAVAILABLE,
    "abandoned: the request stopped before the provider was reached",
    sent=False,
)
"""The outcome of a call the provider has no trace of, found by the completer."""


def conversion_fingerprint(cmd: CreateConversion) -> str:
    """Every field that changes what the conversion does."""
    return idem.fingerprint(
        CONVERT,
        {
            "quote_id": cmd.quote_id,
            "buy_currency": cmd.buy_currency,
            "sell_currency": cmd.sell_currency,
            "fixed_side": cmd.fixed_side.value if cmd.fixed_side is not None else None,
            "amount_minor": cmd.amount_minor,
        },
    )


def check_create(cmd: CreateConversion) -> None:
    """Refuse a malformed request before anything is stored."""
    if cmd.quote_id and cmd.has_terms:
        why = "give either a quote_id or explicit terms, not both"
        raise ValidationFailed(f"invalid conversion: quote_id: {why}",
                               violations=[FieldViolation("quote_id", why)])  # fmt: skip
    if not cmd.quote_id:
        check_quote_request(cmd.quote_request())
    keys.check_request_id(cmd.request_id, required=False)


def settle_conversion(
    conversion: Conversion, outcome: Outcome, now: datetime
) -> list[ConversionTransition]:
    """The conversion after phase b'/c's outcome (pure apart from logging)."""
    if outcome is None:
        return []
    if isinstance(outcome, HoldDenied):
        return conversion.fail(outcome.failure_reason, now)
    if outcome.step is FxStep.DONE and outcome.value is not None:
        try:
            return conversion.apply_provider_view(outcome.value, now)
        except ProviderViewConflict as exc:
            _log.error("provider view conflicts with conversion %s: %s", conversion.id, exc)
            return []
    if outcome.step is FxStep.REFUSED:
        return conversion.fail(failure(FailureCode.PROVIDER_REJECTED, outcome.reason), now)
    if outcome.step is FxStep.UNAVAILABLE:
        return conversion.fail(failure(FailureCode.PROVIDER_UNAVAILABLE, outcome.reason), now)
    return []  # UNKNOWN: still PENDING; the poller finds it by its id


def conversion_error(conversion: Conversion) -> GatewayError | None:
    """The error a create's stored state stands for (a refusal before the provider booked
    anything); None when the conversion itself is the answer."""
    if conversion.status is not ConversionState.FAILED or conversion.was_booked:
        return None
    return failure_error(conversion.failure_reason, conversion.error_metadata())


class ConversionFlow:
    """CreateConversion and its resumption; one per process."""

    def __init__(
        self,
        rt: GatewayRuntime,
        caller: FxCaller,
        ledger: LedgerPort,
        desk: QuoteDesk,
        poll: PollPolicy,
    ) -> None:
        self._rt = rt
        self._caller = caller
        self._ledger = ledger
        self._desk = desk
        self._poll = poll

    async def __call__(self, cmd: CreateConversion, render: RenderConversion) -> Answer[Conversion]:
        """Validate, then run or resume the phases, or replay; see the module docstring."""
        check_create(cmd)
        key = cmd.request_id or self._rt.new_id("gen")
        fp = conversion_fingerprint(cmd)
        opened = await keys.open_key(self._rt, cmd.merchant_id, key, CONVERT, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold = await self.advance(opened, cmd)
        if isinstance(hold, GatewayError):
            raise hold
        return await self.finish(hold, render)

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption of an abandoned key (no client, no render)."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)  # nothing was created: the retry starts afresh
            return
        settled = await self.advance(hold, None)
        if isinstance(settled, KeyHold):
            await leave_for_retry(self._rt, settled)

    async def advance(self, hold: KeyHold, cmd: CreateConversion | None) -> KeyHold | GatewayError:
        """Run phases b to d from the key's recovery point; the key ends at PROVIDER_CALLED,
        or is forgotten when the provider provably did nothing (then the error to raise)."""
        if hold.point is RecoveryPoint.STARTED:
            assert cmd is not None
            hold = await self.start(hold, cmd)
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            outcome = await self._execute(hold, send=cmd is not None)
            return await self._apply(hold, outcome, cmd.actor_key_id if cmd else "")
        return hold

    async def start(self, hold: KeyHold, cmd: CreateConversion) -> KeyHold:
        """Phase b (see the module docstring)."""
        rt = self._rt
        cid = rt.new_id("conv")
        try:
            priced = None
            if not cmd.quote_id:
                priced = await self._desk.price(cmd.quote_request(), rt.new_id("quote"), cid)
            async with FxUnitOfWork(rt.engine) as uow:
                if priced is not None:
                    await uow.quotes.add(priced)
                quote = priced or await _redeem(uow, cmd.merchant_id, cmd.quote_id, cid, rt)
                await uow.conversions.add(open_conversion(cid, quote, rt.clock()))
                hold = await keys.advance(
                    uow, hold, RecoveryPoint.PAYMENT_CREATED, rt.clock(), payment_id=cid
                )
                await uow.commit()
        except GatewayError:
            await keys.drop(rt, hold)
            raise
        return hold

    async def _execute(self, hold: KeyHold, *, send: bool) -> Outcome:
        """Phases b' and c: the hold, then the provider (nothing when already settled);
        without ``send`` (no client) the provider is only asked what exists."""
        conversion = await self._load(hold)
        if conversion.status is not ConversionState.PENDING or conversion.provider_ref:
            return None
        m = conversion.merchant_id
        books = (Books(m, conversion.sell_currency), Books(m, conversion.buy_currency))
        placed = await place_hold(self._rt, self._ledger, plan_conversion_hold(conversion), books)
        if isinstance(placed, HoldUnreachable):
            await release_for_retry(self._rt, hold, self._rt.clock())
            raise unreachable(placed, conversion.error_metadata())
        if isinstance(placed, HoldDenied):
            return placed
        if not send:
            return await self._look_up(conversion.id, conversion.created_at)
        terms = conversion.terms()
        return await self._caller.run(
            "create_conversion", lambda p: p.create_conversion(terms, conversion.id)
        )

    async def _look_up(self, conversion_id: str, created_at: datetime) -> FxTried[ConversionView]:
        """What the provider made under the conversion's id: DONE with it, UNAVAILABLE when
        it has nothing (the request never reached it), UNKNOWN when it cannot say now."""
        found = await self._caller.run(
            "find_conversion", lambda p: p.find_conversion(conversion_id)
        )
        if found.step is not FxStep.DONE:
            return FxTried(FxStep.UNKNOWN, error=found.error)
        if found.value is None:
            if self._rt.clock() - created_at < self._rt.not_found_grace:
                # The provider's search may lag its writes: not found yet is not proof.
                return FxTried(FxStep.UNKNOWN, error=ABANDONED)
            return FxTried(FxStep.UNAVAILABLE, error=ABANDONED)
        return FxTried(FxStep.DONE, value=found.value)

    async def _load(self, hold: KeyHold) -> Conversion:
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            conversion = await uow.conversions.get_any(hold.record.payment_id)
        assert conversion is not None, hold
        return conversion

    async def _apply(
        self, hold: KeyHold, outcome: Outcome, actor_key_id: str
    ) -> KeyHold | GatewayError:
        """Phase d (see the module docstring); the error to raise when the key was
        forgotten."""
        rt, now = self._rt, self._rt.clock()
        assert hold.record.payment_id is not None, hold
        forget = isinstance(outcome, FxTried) and outcome.step is FxStep.UNAVAILABLE
        async with FxUnitOfWork(rt.engine) as uow:
            conversion = await uow.conversions.get_any(hold.record.payment_id)
            assert conversion is not None, hold
            read = conversion.version
            changes = settle_conversion(conversion, outcome, now)
            await uow.conversions.update(conversion, read)
            at = None if conversion.is_final else self._poll.next_at(now, 0)
            await uow.conversions.schedule_check(conversion.id, at, 0)
            if not isinstance(outcome, HoldDenied):  # a refused hold has nothing to void
                await enqueue_conversion_changes(uow, conversion, changes, now)
            if outcome is not None:
                await _audit(uow, hold, conversion, actor_key_id, now)
            error = conversion_error(conversion) if forget else None
            if error is not None:
                await uow.keys.delete(hold.record)
            else:
                hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        rt.kick()
        return hold if error is None else error

    async def finish(self, hold: KeyHold, render: RenderConversion) -> Answer[Conversion]:
        """Phase e: render the conversion (or its error), store it, finish the key."""
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine) as uow:
            conversion = await uow.conversions.get_any(hold.record.payment_id)
            assert conversion is not None, hold
            error = conversion_error(conversion)
            response = render(error if error is not None else conversion)
            await keys.finish(uow, hold, response, self._rt.clock())
            await uow.commit()
        return Answer(response, result=None if error else conversion, error=error)


async def _redeem(
    uow: FxUnitOfWork, merchant_id: str, quote_id: str, conversion_id: str, rt: GatewayRuntime
) -> Quote:
    """The merchant's quote, redeemed by ``conversion_id`` (expiry and reuse checked by the
    domain, then by compare-and-set against a concurrent conversion)."""
    quote = await uow.quotes.get(merchant_id, quote_id)
    if quote is None:
        raise QuoteNotFound(f"quote {quote_id} not found", metadata={"quote_id": quote_id})
    redeemed = quote.redeem(merchant_id, conversion_id, rt.clock())
    if not await uow.quotes.redeem(quote.id, conversion_id):
        raise QuoteAlreadyUsed(
            f"quote {quote.id} was used by another conversion", metadata=quote.error_metadata()
        )
    return redeemed


async def _audit(
    uow: FxUnitOfWork, hold: KeyHold, conversion: Conversion, actor_key_id: str, now: datetime
) -> None:
    merchant, key = hold.record.merchant_id, hold.record.key
    await audit(
        uow,
        action=ACTION,
        merchant_id=conversion.merchant_id,
        target=f"conversions/{conversion.id}",
        actor_key_id=actor_key_id,
        event_parts=(merchant, key, ACTION, conversion.id),
        details=conversion_details(conversion),
        now=now,
        request_id=key,
        failed_reason=failure_code(conversion.failure_reason).value
        if conversion.status is ConversionState.FAILED
        else "",
    )
