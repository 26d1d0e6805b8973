"""FaultBook: validation of scripted faults, matching, counts and order (no I/O)."""

from __future__ import annotations

import pytest

from sandbox.faults import FaultBook, FaultKind, InvalidFault


@pytest.fixture
def book() -> FaultBook:
    return FaultBook(["stripe", "paypal"])


def test_a_fault_gets_an_id_and_defaults(book: FaultBook) -> None:
    fault = book.add({"provider": "stripe", "kind": "error"})
    assert fault.id == "flt_1"
    assert (fault.kind, fault.count, fault.status, fault.path, fault.method) == (
        FaultKind.ERROR,
        1,
        500,
        None,
        None,
    )
    assert fault.to_json()["status"] == 500


def test_ids_are_unique(book: FaultBook) -> None:
    first = book.add({"provider": "stripe", "kind": "reset"})
    second = book.add({"provider": "stripe", "kind": "reset"})
    assert first.id != second.id


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"provider": "adyen", "kind": "reset"}, "provider must be one of"),
        ({"provider": "stripe", "kind": "meltdown"}, "kind must be one of"),
        ({"provider": "stripe", "kind": "reset", "count": 0}, "count must be"),
        ({"provider": "stripe", "kind": "reset", "count": -2}, "count must be"),
        ({"provider": "stripe", "kind": "reset", "count": True}, "count must be an integer"),
        ({"provider": "stripe", "kind": "reset", "count": "2"}, "count must be an integer"),
        ({"provider": "stripe", "kind": "reset", "path": "v1"}, "path must start with"),
        ({"provider": "stripe", "kind": "reset", "method": ""}, "method must be"),
        ({"provider": "stripe", "kind": "latency"}, "latency_ms"),
        ({"provider": "stripe", "kind": "latency", "latency_ms": -1}, "latency_ms"),
        ({"provider": "stripe", "kind": "error", "status": 200}, "status must be"),
        ({"provider": "stripe", "kind": "rate_limit", "retry_after_s": -1}, "retry_after_s"),
        ({"provider": "stripe", "kind": "reset", "colour": "red"}, "unknown field"),
    ],
)
def test_an_invalid_spec_is_refused_with_its_reason(
    book: FaultBook, spec: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidFault, match=message):
        book.add(spec)
    assert book.list() == []


def test_no_fault_scripted_means_none(book: FaultBook) -> None:
    assert book.take("stripe", "POST", "/v1/payment_intents") is None


def test_a_fault_is_consumed_once_per_matching_request(book: FaultBook) -> None:
    book.add({"provider": "stripe", "kind": "error", "count": 2})
    taken = [book.take("stripe", "GET", "/x") for _ in range(3)]
    assert [fault is not None for fault in taken] == [True, True, False]
    assert book.list() == []
    assert book.fired["stripe", "error"] == 2


def test_until_cleared_never_runs_out(book: FaultBook) -> None:
    fault = book.add({"provider": "stripe", "kind": "reset", "count": -1})
    for _ in range(5):
        assert book.take("stripe", "GET", "/x") is fault
    assert (fault.remaining, fault.fired) == (-1, 5)
    assert book.clear() == 1
    assert book.take("stripe", "GET", "/x") is None


def test_path_is_a_prefix_and_method_is_case_insensitive(book: FaultBook) -> None:
    fault = book.add(
        {"provider": "stripe", "kind": "reset", "path": "/v1/payment_intents", "method": "post"}
    )
    assert book.take("stripe", "GET", "/v1/payment_intents") is None
    assert book.take("stripe", "POST", "/v1/refunds") is None
    assert book.take("paypal", "POST", "/v1/payment_intents") is None
    assert book.take("stripe", "POST", "/v1/payment_intents/pi_1/confirm") is fault


def test_faults_fire_in_the_order_scripted_skipping_ones_that_do_not_match(
    book: FaultBook,
) -> None:
    refunds = book.add({"provider": "stripe", "kind": "reset", "path": "/v1/refunds"})
    anything = book.add({"provider": "stripe", "kind": "error"})
    later = book.add({"provider": "stripe", "kind": "rate_limit"})
    assert book.take("stripe", "GET", "/v1/charges") is anything
    assert book.take("stripe", "GET", "/v1/charges") is later
    assert book.take("stripe", "GET", "/v1/refunds") is refunds


def test_clearing_one_provider_keeps_the_others(book: FaultBook) -> None:
    book.add({"provider": "stripe", "kind": "reset"})
    kept = book.add({"provider": "paypal", "kind": "reset"})
    assert book.clear("stripe") == 1
    assert book.list() == [kept]


def test_the_json_view_carries_only_the_kinds_own_knob(book: FaultBook) -> None:
    latency = book.add({"provider": "stripe", "kind": "latency", "latency_ms": 250}).to_json()
    limited = book.add({"provider": "stripe", "kind": "rate_limit", "retry_after_s": 3}).to_json()
    assert latency["latency_ms"] == 250 and "status" not in latency
    assert limited["retry_after_s"] == 3.0 and "latency_ms" not in limited
