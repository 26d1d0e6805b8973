"""The end-of-run correctness check: a fast but lossy run must not pass.

After the last step, and once the gateway's outbox has drained:

- the merchant's payments (ListPayments through the edge) number at least the successful
  replies and at most those plus the requests whose reply never came (cut off when a step's
  load stopped, or failed): no reply without a payment, no payment out of nowhere;
- every one of them is CAPTURED;
- the outbox holds nothing pending and nothing parked;
- the ledger's balances of the merchant's books equal what the payments add up to, written
  out from the posting rules (gateway_svc/domain/postings.py) rather than by calling them:
  each automatic capture posts Dr clearing / Cr payable, each provider fee Dr provider_fees /
  Cr clearing, nothing is pending, and the platform fee and refund accounts stay empty (the
  stack charges no platform fee by default; the bench refunds nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.payments_pg import OutboxState

ROLES = ("clearing", "payable", "fees", "provider_fees", "refunds")
PARTS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


@dataclass(frozen=True)
class Check:
    """One line of the check table."""

    name: str
    expected: str
    found: str
    ok: bool


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, expected: object, found: object, ok: bool | None = None) -> None:
        passed = expected == found if ok is None else ok
        self.checks.append(Check(name, str(expected), str(found), passed))


@dataclass(frozen=True)
class Totals:
    """What the merchant's payments add up to."""

    count: int
    statuses: Counter[str]
    captured_minor: int
    fees_minor: int
    currencies: frozenset[str]


def totals(payments: Iterable[Mapping[str, Any]]) -> Totals:
    count = captured = fees = 0
    statuses: Counter[str] = Counter()
    currencies = set()
    for p in payments:
        count += 1
        statuses[str(p.get("status", "?")).removeprefix("PAYMENT_STATUS_")] += 1
        captured += int(p.get("amount_captured", {}).get("minor_units", 0))
        fees += int((p.get("fee") or {}).get("minor_units", 0))
        currencies.add(str(p.get("amount", {}).get("currency_code", "?")))
    return Totals(count, statuses, captured, fees, frozenset(currencies))


def expected_books(t: Totals) -> dict[str, dict[str, int]]:
    """The four totals of each account, from the payments alone (module docstring)."""
    zero = dict.fromkeys(PARTS, 0)
    books = {role: dict(zero) for role in ROLES}
    books["clearing"].update(posted_debits=t.captured_minor, posted_credits=t.fees_minor)
    books["payable"]["posted_credits"] = t.captured_minor
    books["provider_fees"]["posted_debits"] = t.fees_minor
    return books


def verify(
    t: Totals,
    replies_ok: int,
    replies_unknown: int,
    outbox: OutboxState,
    books: Mapping[str, Mapping[str, int]],
) -> Verdict:
    """Every check of the module docstring; ``books`` holds what the ledger answered."""
    v = Verdict()
    v.add("payments listed vs successful replies",
          f"{replies_ok:,} to {replies_ok + replies_unknown:,}", f"{t.count:,}",
          replies_ok <= t.count <= replies_ok + replies_unknown)  # fmt: skip
    captured = t.statuses.get("CAPTURED", 0)
    others = {k: n for k, n in t.statuses.items() if k != "CAPTURED"}
    v.add("payments CAPTURED", f"all {t.count:,}", f"{captured:,} (others: {others or 'none'})",
          captured == t.count and t.count > 0)  # fmt: skip
    v.add("outbox pending / parked", "0 / 0", f"{outbox.pending} / {outbox.parked}",
          outbox.pending == 0 and outbox.parked == 0)  # fmt: skip
    for role, parts in expected_books(t).items():
        got = books.get(role)
        shown = "no account" if got is None else " / ".join(f"{got[p]:,}" for p in PARTS)
        want = " / ".join(f"{parts[p]:,}" for p in PARTS)
        # An account nothing was ever posted to may not have been opened: all zeros then.
        ok = (got is not None and dict(got) == parts) or (got is None and not any(parts.values()))
        v.add(f"ledger {role}: posted Dr / Cr, pending Dr / Cr", want, shown, ok)
    return v


def table(v: Verdict) -> str:
    lines = ["| check | expected | found | |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.expected} | {c.found} | {'ok' if c.ok else 'FAILED'} |"
              for c in v.checks]  # fmt: skip
    return "\n".join(lines)
