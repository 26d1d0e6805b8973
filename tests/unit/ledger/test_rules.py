"""Request validation before any state is read: field paths, limits and per-currency balance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger_svc.domain import rules
from ledger_svc.domain.errors import TransactionUnbalanced, ValidationFailed
from ledger_svc.domain.model import AccountType, NewAccount, NewTransaction
from tests.unit.ledger.support import credit, debit, transfer


def accepted(check: Callable[[], None]) -> bool:
    """True when the validator returns without raising: the request is accepted."""
    check()
    return True


def violated_fields(exc: ValidationFailed) -> list[str]:
    return [v.field for v in exc.violations]


def refusal_of(tx: NewTransaction, prefix: str = "") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        rules.check_new_transaction(tx, prefix)
    return caught.value


# -- transactions: shape ----------------------------------------------------


def test_a_balanced_two_entry_transaction_passes() -> None:
    assert accepted(lambda: rules.check_new_transaction(transfer("a", "b", 100)))


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_entries_is_refused_on_the_entries_field(count: int) -> None:
    tx = NewTransaction(entries=(debit("a", 5),)[:count])
    exc = refusal_of(tx)
    assert type(exc) is ValidationFailed
    assert violated_fields(exc) == ["entries"]
    assert f"got {count}" in exc.violations[0].description


def test_more_than_a_hundred_entries_is_refused_but_a_hundred_pass() -> None:
    hundred = tuple([debit("a", 1)] * 50 + [credit("b", 1)] * 50)
    rules.check_new_transaction(NewTransaction(entries=hundred))
    exc = refusal_of(NewTransaction(entries=(*hundred, debit("a", 1), credit("b", 1))))
    assert violated_fields(exc) == ["entries"]


@pytest.mark.parametrize("amount", [0, -1, -500])
def test_a_non_positive_amount_is_refused_on_that_entrys_minor_units(amount: int) -> None:
    exc = refusal_of(NewTransaction(entries=(debit("a", 10), credit("b", amount))))
    assert violated_fields(exc) == ["entries[1].amount.minor_units"]
    assert str(amount) in exc.violations[0].description


def test_an_amount_above_the_cap_is_refused_and_the_cap_itself_passes() -> None:
    rules.check_new_transaction(transfer("a", "b", rules.MAX_AMOUNT))
    exc = refusal_of(transfer("a", "b", rules.MAX_AMOUNT + 1))
    assert violated_fields(exc) == [
        "entries[0].amount.minor_units",
        "entries[1].amount.minor_units",
    ]


@pytest.mark.parametrize("code", ["usd", "ZZZ", "US", "", "DOLLAR"])
def test_an_unknown_currency_is_refused_on_that_entrys_currency_code(code: str) -> None:
    exc = refusal_of(NewTransaction(entries=(debit("a", 1, "USD"), credit("b", 1, code))))
    assert "entries[1].amount.currency_code" in violated_fields(exc)


def test_an_entry_without_an_account_id_is_refused() -> None:
    exc = refusal_of(NewTransaction(entries=(debit("", 1), credit("b", 1))))
    assert violated_fields(exc) == ["entries[0].account_id"]


def test_every_field_problem_is_reported_in_one_refusal() -> None:
    tx = NewTransaction(
        entries=(debit("", 0), credit("b", 1, "usd")),
        description="d" * 501,
        external_ref="r" * 201,
    )
    exc = refusal_of(tx)
    assert violated_fields(exc) == [
        "entries[0].account_id",
        "entries[0].amount.minor_units",
        "entries[1].amount.currency_code",
        "description",
        "external_ref",
    ]
    assert "(and 4 more)" in exc.message


def test_the_prefix_is_put_in_front_of_every_field_path() -> None:
    exc = refusal_of(NewTransaction(entries=(debit("a", 0),)), prefix="transaction.")
    assert violated_fields(exc) == [
        "transaction.entries",
        "transaction.entries[0].amount.minor_units",
    ]


def test_text_fields_are_allowed_up_to_their_limit() -> None:
    assert accepted(
        lambda: rules.check_new_transaction(
            transfer("a", "b", 1, description="d" * 500, external_ref="r" * 200)
        )
    )


# -- transactions: metadata -------------------------------------------------


def test_metadata_with_more_than_32_keys_is_refused_on_the_metadata_field() -> None:
    rules.check_new_transaction(transfer("a", "b", 1, metadata={f"k{i}": "v" for i in range(32)}))
    exc = refusal_of(transfer("a", "b", 1, metadata={f"k{i}": "v" for i in range(33)}))
    assert violated_fields(exc) == ["metadata"]


def test_a_metadata_key_that_is_empty_or_too_long_is_refused_on_that_key() -> None:
    long_key = "k" * 65
    exc = refusal_of(transfer("a", "b", 1, metadata={"": "v", long_key: "v", "k" * 64: "ok"}))
    assert violated_fields(exc) == ["metadata['']", f"metadata[{long_key!r}]"]


def test_a_metadata_value_over_512_characters_is_refused_on_its_key() -> None:
    rules.check_new_transaction(transfer("a", "b", 1, metadata={"note": "v" * 512}))
    exc = refusal_of(transfer("a", "b", 1, metadata={"note": "v" * 513}))
    assert violated_fields(exc) == ["metadata['note']"]
    assert "512" in exc.violations[0].description


# -- transactions: pending timeout ------------------------------------------


def test_a_pending_timeout_without_pending_is_refused() -> None:
    exc = refusal_of(transfer("a", "b", 1, pending=False, pending_timeout_s=60.0))
    assert violated_fields(exc) == ["pending_timeout"]
    assert "pending=true" in exc.violations[0].description


@pytest.mark.parametrize("timeout_s", [0.0, 0.5, rules.MAX_PENDING_TIMEOUT_S + 1])
def test_a_pending_timeout_outside_one_second_to_366_days_is_refused(timeout_s: float) -> None:
    exc = refusal_of(transfer("a", "b", 1, pending=True, pending_timeout_s=timeout_s))
    assert violated_fields(exc) == ["pending_timeout"]


def test_the_pending_timeout_is_named_with_the_request_prefix_not_the_transaction_one() -> None:
    tx = transfer("a", "b", 0, pending_timeout_s=5.0)
    with pytest.raises(ValidationFailed) as caught:
        rules.check_new_transaction(tx, "transaction.", "requests[2].")
    assert violated_fields(caught.value) == [
        "transaction.entries[0].amount.minor_units",
        "transaction.entries[1].amount.minor_units",
        "requests[2].pending_timeout",
    ]


@pytest.mark.parametrize("timeout_s", [None, 1.0, rules.MAX_PENDING_TIMEOUT_S])
def test_a_pending_timeout_within_bounds_or_absent_passes(timeout_s: float | None) -> None:
    assert accepted(
        lambda: rules.check_new_transaction(
            transfer("a", "b", 1, pending=True, pending_timeout_s=timeout_s)
        )
    )


# -- transactions: balance ---------------------------------------------------


def test_debits_that_differ_from_credits_are_refused_as_unbalanced() -> None:
    tx = NewTransaction(entries=(debit("a", 100), credit("b", 99)))
    with pytest.raises(TransactionUnbalanced) as caught:
        rules.check_new_transaction(tx, "transaction.")
    exc = caught.value
    assert exc.reason == "TRANSACTION_UNBALANCED"
    assert exc.metadata == {"currency": "USD", "debits": "100", "credits": "99"}
    assert violated_fields(exc) == ["transaction.entries"]


def test_a_multi_currency_transaction_that_balances_in_each_currency_passes() -> None:
    tx = NewTransaction(
        entries=(
            debit("usd-cash", 1000, "USD"),
            credit("usd-fx", 1000, "USD"),
            debit("eur-fx", 920, "EUR"),
            credit("eur-cash", 920, "EUR"),
        )
    )
    assert accepted(lambda: rules.check_new_transaction(tx))


def test_a_multi_currency_transaction_balanced_only_in_total_is_refused_naming_the_currency() -> (
    None
):
    # 1000 + 920 debits equal 920 + 1000 credits overall, but not per currency.
    tx = NewTransaction(
        entries=(
            debit("usd-cash", 1000, "USD"),
            credit("usd-fx", 920, "USD"),
            debit("eur-fx", 920, "EUR"),
            credit("eur-cash", 1000, "EUR"),
        )
    )
    with pytest.raises(TransactionUnbalanced) as caught:
        rules.check_balanced(tx)
    # Currencies are checked in sorted order, so EUR is the one named.
    assert caught.value.metadata["currency"] == "EUR"
    assert caught.value.metadata["debits"] == "920"
    assert caught.value.metadata["credits"] == "1000"


def test_multi_leg_entries_on_one_side_sum_before_balancing() -> None:
    tx = NewTransaction(entries=(debit("a", 70), debit("b", 30), credit("c", 100)))
    assert accepted(lambda: rules.check_new_transaction(tx))


def test_shape_errors_are_reported_before_the_balance_check() -> None:
    # An unbalanced transaction with a bad currency reports the field problem first.
    exc = refusal_of(NewTransaction(entries=(debit("a", 5, "usd"), credit("b", 4))))
    assert type(exc) is ValidationFailed
    assert violated_fields(exc) == ["entries[0].amount.currency_code"]


# -- accounts ---------------------------------------------------------------


def new_account(**overrides: object) -> NewAccount:
    fields: dict[str, object] = {
        "code": "assets/cash:eu-1",
        "name": "Cash",
        "currency": "EUR",
        "type": AccountType.ASSET,
    }
    fields.update(overrides)
    return NewAccount(**fields)  # type: ignore[arg-type]


def account_refusal(account: NewAccount, prefix: str = "") -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        rules.check_new_account(account, prefix)
    return caught.value


def test_a_well_formed_account_passes() -> None:
    assert accepted(
        lambda: rules.check_new_account(new_account(owner="merchant-1", metadata={"region": "eu"}))
    )


@pytest.mark.parametrize("code", ["", "has space", "bad*char", "x" * 201, "émoji"])
def test_an_account_code_outside_the_allowed_alphabet_or_length_is_refused(code: str) -> None:
    exc = account_refusal(new_account(code=code))
    assert violated_fields(exc) == ["code"]


def test_an_account_code_of_200_allowed_characters_passes() -> None:
    assert accepted(lambda: rules.check_new_account(new_account(code="A-z0.9/_:" * 22 + "ab")))


def test_an_account_with_an_unknown_currency_is_refused_on_currency_code() -> None:
    exc = account_refusal(new_account(currency="eur"), prefix="account.")
    assert violated_fields(exc) == ["account.currency_code"]


def test_account_name_owner_and_metadata_limits_are_each_reported() -> None:
    exc = account_refusal(
        new_account(name="n" * 201, owner="o" * 201, metadata={"k": "v" * 513}),
        prefix="account.",
    )
    assert violated_fields(exc) == ["account.name", "account.owner", "account.metadata['k']"]


def test_an_account_cannot_carry_both_limit_flags() -> None:
    exc = account_refusal(
        new_account(debits_must_not_exceed_credits=True, credits_must_not_exceed_debits=True)
    )
    assert violated_fields(exc) == ["credits_must_not_exceed_debits"]


@pytest.mark.parametrize(
    "flag", ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
)
def test_an_account_with_one_limit_flag_passes(flag: str) -> None:
    assert accepted(lambda: rules.check_new_account(new_account(**{flag: True})))


# -- request ids --------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["", "r-1", "x" * 128, "!~"])
def test_an_empty_or_printable_ascii_request_id_passes(request_id: str) -> None:
    assert accepted(lambda: rules.check_request_id(request_id))


@pytest.mark.parametrize("request_id", ["has space", "x" * 129, "tab\t", "caf\u00e9"])
def test_a_request_id_with_spaces_non_ascii_or_too_long_is_refused(request_id: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rules.check_request_id(request_id, "requests[3].request_id")
    assert violated_fields(caught.value) == ["requests[3].request_id"]


# -- batches ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, rules.MAX_BATCH])
def test_a_batch_of_one_to_the_maximum_passes(size: int) -> None:
    assert accepted(lambda: rules.check_batch_size(size))


@pytest.mark.parametrize("size", [0, rules.MAX_BATCH + 1])
def test_an_empty_or_oversized_batch_is_refused_on_requests(size: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        rules.check_batch_size(size)
    assert violated_fields(caught.value) == ["requests"]
    assert f"got {size}" in caught.value.message
