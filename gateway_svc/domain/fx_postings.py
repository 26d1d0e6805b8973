"""The ledger postings of conversions and payouts: one plan per event, and the accounts.

**The merchant's balance** in a currency is ONE account: the ``payable`` of its books
(``ledger_accounts.Books(merchant, currency).code(AccountRole.PAYABLE)``), the account card
captures credit (issue 5's "merchant payable"). Conversions and payouts debit that same
account, so captured card money can be converted and paid out, and its
``debits_must_not_exceed_credits`` flag makes the ledger refuse, under any concurrency, a
conversion or payout beyond what is available (pending debits count against it).

Three more accounts, opened with ``fx_accounts(books)`` beside ``chart_of_accounts(books)``:

===============================  ======  ==================================================
code                             type    holds
===============================  ======  ==================================================
gw/platform/<CUR>/fx_position    ASSET   the platform's position in CUR from conversions:
                                         debited with what it received, credited with what
                                         it delivered (its P&L and settlement with the
                                         provider live here); one per currency, platform-wide
gw/<merchant>/<CUR>/             ASSET   money sent to beneficiaries: credited as payouts
payout_clearing                          leave (a contra-asset beside ``clearing``)
gw/<merchant>/<CUR>/payout_fees  REVENUE payout fees charged to the merchant
===============================  ======  ==================================================

``platform`` cannot collide with a merchant's books: a merchant's codes end in one of
``AccountRole``'s roles, never in ``fx_position``.

Plans (request ids are deterministic, from the object and the event, so a retried posting is
recognised by the ledger and never posted twice):

- conversion created: ONE pending transaction with two balanced currency legs, before the
  provider is called (``<conversion_id>:conversion:hold``): Dr merchant sell-currency payable
  / Cr fx_position(sell), and Dr fx_position(buy) / Cr merchant buy-currency payable;
- conversion booked by the provider: post it (``:conversion:post``); refused before booking:
  void it (``:conversion:void``); closed by the provider after booking: reverse it
  (``:conversion:reverse``, the ledger's ReverseTransaction of the posted transaction);
- payout created: pending Dr payable / Cr payout_clearing (``<payout_id>:payout:hold``);
  completed: post it (``:payout:post``) and, when the provider charged a fee, a posted
  Dr payable / Cr payout_fees in the fee's currency (``:payout:fee``); failed or canceled:
  void it (``:payout:void``).

Holds have no timeout: the provider decides however long it takes, and the reconciler
resolves them, as for refunds.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from svc_kit.currencies import is_currency

from .conversions import BOOKED, Conversion, ConversionState, ConversionTransition
from .ledger_accounts import AccountRole, AccountSpec, Books, LedgerAccountType
from .payouts import Payout, PayoutState, PayoutTransition
from .postings import (
    MAX_AMOUNT_MINOR,
    CreateTransactionPlan,
    Leg,
    PostTransactionPlan,
    Side,
    VoidTransactionPlan,
)

__all__ = [
    "PLATFORM",
    "ConversionPlan",
    "CurrencyLeg",
    "FxLedgerPlan",
    "MultiCurrencyTransactionPlan",
    "ReverseTransactionPlan",
    "fx_accounts",
    "fx_position_code",
    "merchant_balance_code",
    "payout_clearing_code",
    "payout_fees_code",
    "plan_conversion_hold",
    "plan_conversion_transition",
    "plan_payout_fee",
    "plan_payout_hold",
    "plan_payout_transition",
]

PLATFORM: Final = "platform"
_MAX_CODE_LEN = 200
_MAX_REQUEST_ID_LEN = 128
_REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # the ledger's rule, as in postings


def merchant_balance_code(merchant_id: str, currency: str) -> str:
    """The merchant's balance in ``currency``: its books' payable (module docstring)."""
    return Books(merchant_id, currency).code(AccountRole.PAYABLE)


def fx_position_code(currency: str) -> str:
    """The platform's FX position account in ``currency``."""
    if not is_currency(currency):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    return f"gw/{PLATFORM}/{currency}/fx_position"


def payout_clearing_code(books: Books) -> str:
    """Where a merchant's payouts in ``books.currency`` go out."""
    return _code(books, "payout_clearing")


def payout_fees_code(books: Books) -> str:
    """The payout fees a merchant was charged in ``books.currency``."""
    return _code(books, "payout_fees")


def _code(books: Books, role: str) -> str:
    code = f"gw/{books.merchant_id}/{books.currency}/{role}"
    if len(code) > _MAX_CODE_LEN:
        raise ValueError("merchant id too long for an account code")
    return code


def _open(code: str, name: str, currency: str, kind: LedgerAccountType, owner: str) -> AccountSpec:
    rid = f"open:{code}"
    if len(rid) > _MAX_REQUEST_ID_LEN:  # the same digest rule as ledger_accounts
        rid = "open:" + hashlib.sha256(code.encode()).hexdigest()
    return AccountSpec(code, name, currency, kind, owner, False, rid)


def fx_accounts(books: Books) -> tuple[AccountSpec, ...]:
    """The accounts conversions and payouts need in ``books`` beyond ``chart_of_accounts``:
    the merchant's payout clearing and payout fees, and the platform's FX position. Opening
    is idempotent; none carries the no-overdraft flag (the payable does)."""
    m, cur = books.merchant_id, books.currency
    asset, revenue = LedgerAccountType.ASSET, LedgerAccountType.REVENUE
    return (
        _open(payout_clearing_code(books), f"{m} {cur} payout clearing", cur, asset, m),
        _open(payout_fees_code(books), f"{m} {cur} payout fees", cur, revenue, m),
        _open(fx_position_code(cur), f"{PLATFORM} {cur} fx position", cur, asset, PLATFORM),
    )


@dataclass(frozen=True, slots=True)
class CurrencyLeg:
    """One entry of a multi-currency transaction; the account is named by code."""

    account_code: str
    currency: str
    side: Side
    amount_minor: int


@dataclass(frozen=True, slots=True)
class MultiCurrencyTransactionPlan:
    """A ``CreateTransaction`` whose entries are in several currencies, balanced per currency
    (the ledger's rule), such as a conversion's two currency legs."""

    request_id: str
    legs: tuple[CurrencyLeg, ...]
    description: str
    pending: bool = False
    external_ref: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Each currency's legs are checked as postings' own single-currency plan, so both
        # kinds share one definition of "balanced" (asserted: a bad plan never leaves).
        for currency, legs in self.by_currency().items():
            assert is_currency(currency), f"{currency!r} in plan {self.request_id}"
            CreateTransactionPlan(self.request_id, currency, legs, self.description, self.pending)

    def by_currency(self) -> dict[str, tuple[Leg, ...]]:
        """The legs of each currency, as single-currency legs."""
        out: defaultdict[str, list[Leg]] = defaultdict(list)
        for leg in self.legs:
            out[leg.currency].append(Leg(leg.account_code, leg.side, leg.amount_minor))
        return {currency: tuple(legs) for currency, legs in out.items()}


@dataclass(frozen=True, slots=True)
class ReverseTransactionPlan:
    """A ``ReverseTransaction`` of the posted transaction created with ``original_request_id``."""

    request_id: str
    original_request_id: str

    def __post_init__(self) -> None:
        for rid in (self.request_id, self.original_request_id):
            if not _REQUEST_ID_RE.match(rid):
                raise ValueError(f"request id {rid!r} is not 1 to 128 printable ASCII characters")


ConversionPlan = (
    MultiCurrencyTransactionPlan
    | PostTransactionPlan
    | VoidTransactionPlan
    | ReverseTransactionPlan
)
FxLedgerPlan = ConversionPlan | CreateTransactionPlan


def _amount(amount_minor: int) -> int:
    if isinstance(amount_minor, bool) or not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise ValueError(f"amount must be 1 to {MAX_AMOUNT_MINOR} minor units: {amount_minor}")
    return amount_minor


def plan_conversion_hold(conversion: Conversion) -> MultiCurrencyTransactionPlan:
    """The conversion's one transaction, held until the provider books the trade."""
    cid, m = conversion.id, conversion.merchant_id
    sell, buy = conversion.sell_currency, conversion.buy_currency
    sold, bought = _amount(conversion.sell_amount_minor), _amount(conversion.buy_amount_minor)
    return MultiCurrencyTransactionPlan(
        request_id=f"{cid}:conversion:hold",
        legs=(
            CurrencyLeg(merchant_balance_code(m, sell), sell, Side.DEBIT, sold),
            CurrencyLeg(fx_position_code(sell), sell, Side.CREDIT, sold),
            CurrencyLeg(fx_position_code(buy), buy, Side.DEBIT, bought),
            CurrencyLeg(merchant_balance_code(m, buy), buy, Side.CREDIT, bought),
        ),
        description=f"conversion {cid}: {sell} to {buy} at {conversion.client_rate}",
        pending=True,
        external_ref=cid,
        metadata={"conversion_id": cid, "rate": conversion.client_rate},
    )


def plan_conversion_transition(
    conversion: Conversion, change: ConversionTransition
) -> tuple[ConversionPlan, ...]:
    """What the ledger does on one of the conversion's status changes (module docstring)."""
    cid, before, after = conversion.id, change.from_status, change.to_status
    hold = f"{cid}:conversion:hold"
    if before is None:
        return (plan_conversion_hold(conversion),)
    if before is ConversionState.PENDING and after in BOOKED:
        return (PostTransactionPlan(f"{cid}:conversion:post", hold),)
    if before is ConversionState.PENDING and after is ConversionState.FAILED:
        return (VoidTransactionPlan(f"{cid}:conversion:void", hold),)
    if before in BOOKED and after is ConversionState.FAILED:
        return (ReverseTransactionPlan(f"{cid}:conversion:reverse", hold),)
    return ()


def plan_payout_hold(payout: Payout) -> CreateTransactionPlan:
    """The payout's amount held from the merchant's balance until the provider settles it."""
    books = Books(payout.merchant_id, payout.currency)
    amount = _amount(payout.amount_minor)
    return CreateTransactionPlan(
        request_id=f"{payout.id}:payout:hold",
        currency=payout.currency,
        legs=(
            Leg(books.code(AccountRole.PAYABLE), Side.DEBIT, amount),
            Leg(payout_clearing_code(books), Side.CREDIT, amount),
        ),
        description=f"payout {payout.id} to beneficiary {payout.beneficiary_id}",
        pending=True,
        external_ref=payout.id,
        metadata={"payout_id": payout.id, "beneficiary_id": payout.beneficiary_id},
    )


def plan_payout_fee(payout: Payout) -> CreateTransactionPlan | None:
    """The provider's fee on a completed payout, charged to the merchant in the fee's
    currency (Dr payable / Cr payout_fees); None without a fee."""
    if not payout.fee_minor:
        return None
    books = Books(payout.merchant_id, payout.fee_currency or payout.currency)
    fee = _amount(payout.fee_minor)
    return CreateTransactionPlan(
        request_id=f"{payout.id}:payout:fee",
        currency=books.currency,
        legs=(
            Leg(books.code(AccountRole.PAYABLE), Side.DEBIT, fee),
            Leg(payout_fees_code(books), Side.CREDIT, fee),
        ),
        description=f"payout fee {payout.id}",
        external_ref=payout.id,
    )


def plan_payout_transition(
    payout: Payout, change: PayoutTransition
) -> tuple[CreateTransactionPlan | PostTransactionPlan | VoidTransactionPlan, ...]:
    """What the ledger does on one of the payout's status changes (module docstring)."""
    pid, after = payout.id, change.to_status
    hold = f"{pid}:payout:hold"
    if change.from_status is None:
        return (plan_payout_hold(payout),)
    if after is PayoutState.COMPLETED:
        fee = plan_payout_fee(payout)
        post = PostTransactionPlan(f"{pid}:payout:post", hold)
        return (post,) if fee is None else (post, fee)
    if after in (PayoutState.FAILED, PayoutState.CANCELED):
        return (VoidTransactionPlan(f"{pid}:payout:void", hold),)
    return ()
