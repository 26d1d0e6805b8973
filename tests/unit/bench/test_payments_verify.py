"""The payments bench's correctness check: consistent books pass, and every way a fast run
could lose or invent money fails it."""

from __future__ import annotations

from typing import Any

from bench.payments_pg import OutboxState
from bench.payments_verify import Totals, expected_books, table, totals, verify

DRAINED = OutboxState(pending=0, done=30, parked=0)


def _payment(
    amount: int, fee: int | None, status: str = "PAYMENT_STATUS_CAPTURED"
) -> dict[str, Any]:
    payment: dict[str, Any] = {
        "status": status,
        "amount": {"currency_code": "USD", "minor_units": str(amount)},
        "amount_captured": {"currency_code": "USD",
                            "minor_units": str(amount if "CAPTURED" in status else 0)},
    }  # fmt: skip
    if fee is not None:
        payment["fee"] = {"currency_code": "USD", "minor_units": str(fee)}
    return payment


def _run() -> Totals:
    return totals([_payment(1001, 59), _payment(1002, 59), _payment(1003, None)])


def _books(t: Totals) -> dict[str, dict[str, int]]:
    return {role: dict(parts) for role, parts in expected_books(t).items()}


def test_payments_add_up_to_their_captures_fees_and_statuses() -> None:
    t = _run()
    assert (t.count, t.captured_minor, t.fees_minor) == (3, 3006, 118)
    assert t.statuses == {"CAPTURED": 3} and t.currencies == {"USD"}


def test_the_books_follow_the_posting_rules_of_automatic_capture_and_provider_fees() -> None:
    books = expected_books(_run())
    assert books["clearing"] == {"posted_debits": 3006, "posted_credits": 118,
                                 "pending_debits": 0, "pending_credits": 0}  # fmt: skip
    assert books["payable"]["posted_credits"] == 3006 and books["payable"]["posted_debits"] == 0
    assert books["provider_fees"]["posted_debits"] == 118
    assert not any(books["fees"].values()) and not any(books["refunds"].values())


def test_consistent_books_pass_even_with_the_never_used_accounts_unopened() -> None:
    t = _run()
    found = {k: v for k, v in _books(t).items() if k not in ("fees", "refunds")}
    verdict = verify(t, replies_ok=3, replies_unknown=0, outbox=DRAINED, books=found)
    assert verdict.ok, table(verdict)


def test_a_reply_without_a_payment_fails() -> None:
    t = _run()
    verdict = verify(t, replies_ok=4, replies_unknown=0, outbox=DRAINED, books=_books(t))
    assert not verdict.ok
    assert "FAILED" in table(verdict).splitlines()[2]  # the count line


def test_an_unanswered_request_may_or_may_not_have_made_a_payment() -> None:
    t = _run()
    assert verify(t, 2, 1, DRAINED, _books(t)).ok
    assert verify(t, 3, 1, DRAINED, _books(t)).ok


def test_a_payment_left_short_of_captured_fails() -> None:
    t = totals([_payment(1001, 59), _payment(1002, None, "PAYMENT_STATUS_CREATED")])
    assert not verify(t, 2, 0, DRAINED, _books(t)).ok


def test_a_posting_that_never_reached_the_ledger_fails() -> None:
    t = _run()
    lossy = _books(t)
    lossy["payable"]["posted_credits"] -= 1003
    lossy["clearing"]["posted_debits"] -= 1003
    verdict = verify(t, 3, 0, DRAINED, lossy)
    failed = [c.name for c in verdict.checks if not c.ok]
    assert failed == ["ledger clearing: posted Dr / Cr, pending Dr / Cr",
                      "ledger payable: posted Dr / Cr, pending Dr / Cr"]  # fmt: skip


def test_an_outbox_still_delivering_or_parked_fails() -> None:
    t = _run()
    assert not verify(t, 3, 0, OutboxState(1, 29, 0), _books(t)).ok
    assert not verify(t, 3, 0, OutboxState(0, 29, 1), _books(t)).ok


def test_a_missing_account_that_should_hold_money_fails_and_no_payment_at_all_fails() -> None:
    t = _run()
    books = _books(t)
    del books["payable"]
    assert not verify(t, 3, 0, DRAINED, books).ok
    empty = totals([])
    assert not verify(empty, 0, 0, DRAINED, {}).ok
