"""Idempotency decisions (Stripe's semantics), recovery points and request fingerprints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.idempotency import (
    InFlight,
    KeyRecord,
    Mismatch,
    New,
    RecoveryPoint,
    Replay,
    Resume,
    StoredResponse,
    begin,
)
from gateway_svc.domain.payments import CaptureMethod
from tests.unit.gateway.domain_support import T0

FP = idem.fingerprint("CreatePayment", {"amount": 100, "currency": "USD"})
OK = StoredResponse(0, b"\x0a\x05pay_1")
DECLINED_AS_ERROR = StoredResponse(9, b"status-bytes")


def record(point: RecoveryPoint = RecoveryPoint.STARTED, **kw) -> KeyRecord:
    return KeyRecord(
        **{
            "merchant_id": "mer_1",
            "key": "k1",
            "fingerprint": FP,
            "recovery_point": point,
            "locked_at": T0,
            "created_at": T0,
            **kw,
        }
    )


def test_a_first_request_is_new():
    assert begin(None, FP, T0) == New()


def test_a_finished_request_replays_its_stored_response_errors_included():
    for response in (OK, DECLINED_AS_ERROR):
        done = idem.finish(record(), response)
        assert begin(done, FP, T0 + timedelta(hours=1)) == Replay(response)


def test_the_same_key_with_another_request_is_a_mismatch_whatever_its_state():
    other = idem.fingerprint("CreatePayment", {"amount": 101, "currency": "USD"})
    assert begin(record(), other, T0) == Mismatch()
    assert begin(idem.finish(record(), OK), other, T0) == Mismatch()


def test_a_duplicate_while_the_first_runs_is_in_flight_until_the_lock_is_90_s_old():
    live = record(RecoveryPoint.PAYMENT_CREATED, payment_id="pay_1")
    almost = T0 + timedelta(seconds=89, microseconds=999_999)
    assert begin(live, FP, almost) == InFlight(timedelta(microseconds=1))
    assert begin(live, FP, T0 + timedelta(seconds=90)) == Resume(
        RecoveryPoint.PAYMENT_CREATED, "pay_1"
    )


def test_an_unlocked_unfinished_key_is_resumed_at_once():
    assert begin(record(RecoveryPoint.PROVIDER_CALLED, locked_at=None), FP, T0) == Resume(
        RecoveryPoint.PROVIDER_CALLED, None
    )


def test_a_lock_timeout_can_be_chosen():
    live = record()
    assert isinstance(begin(live, FP, T0 + timedelta(seconds=10), timedelta(seconds=5)), Resume)


def test_a_taken_over_key_is_in_flight_for_the_next_duplicate():
    later = T0 + timedelta(seconds=95)
    taken = idem.take_over(record(), later)
    assert isinstance(begin(taken, FP, later + timedelta(seconds=1)), InFlight)


def test_recovery_points_only_move_forward_and_each_phase_refreshes_the_lock():
    r = idem.started("mer_1", "k1", FP, T0)
    assert (r.recovery_point, r.locked_at) == (RecoveryPoint.STARTED, T0)
    r = idem.advance(r, RecoveryPoint.PAYMENT_CREATED, T0 + timedelta(seconds=1), "pay_1")
    r = idem.advance(r, RecoveryPoint.PROVIDER_CALLED, T0 + timedelta(seconds=2))
    assert r.payment_id == "pay_1" and r.locked_at == T0 + timedelta(seconds=2)
    with pytest.raises(ValueError, match="cannot move"):
        idem.advance(r, RecoveryPoint.PAYMENT_CREATED, T0)
    with pytest.raises(ValueError, match="use finish"):
        idem.advance(r, RecoveryPoint.FINISHED, T0)
    done = idem.finish(r, OK)
    assert (done.recovery_point, done.locked_at, done.response) == (
        RecoveryPoint.FINISHED,
        None,
        OK,
    )


def test_keys_are_reaped_after_72_hours_but_never_kept_under_24():
    done = idem.finish(record(), OK)
    assert not idem.reapable(done, T0 + timedelta(hours=71, minutes=59))
    assert idem.reapable(done, T0 + timedelta(hours=72))
    assert idem.reapable(done, T0 + timedelta(hours=24), retention=timedelta(hours=24))
    with pytest.raises(ValueError, match="at least"):
        idem.reapable(done, T0, retention=timedelta(hours=23))


def test_a_key_held_by_a_live_request_is_not_reaped():
    now = T0 + timedelta(hours=80)
    assert not idem.reapable(record(locked_at=now - timedelta(seconds=10)), now)
    assert idem.reapable(record(locked_at=now - timedelta(seconds=91)), now)


def test_a_fingerprint_ignores_map_order_at_every_depth():
    a = idem.fingerprint("CreatePayment", {"amount": 1, "metadata": {"a": "1", "b": "2"}})
    b = idem.fingerprint("CreatePayment", {"metadata": {"b": "2", "a": "1"}, "amount": 1})
    assert a == b and len(a) == 64


def test_a_fingerprint_sees_values_list_order_and_the_operation():
    base = idem.fingerprint("CreatePayment", {"items": ["a", "b"]})
    assert base != idem.fingerprint("CreatePayment", {"items": ["b", "a"]})
    assert base != idem.fingerprint("RefundPayment", {"items": ["a", "b"]})
    assert idem.fingerprint("X", {"n": 1}) != idem.fingerprint("X", {"n": "1"})


def test_a_fingerprint_takes_enums_by_value():
    assert idem.fingerprint("X", {"m": CaptureMethod.MANUAL}) == idem.fingerprint(
        "X", {"m": "manual"}
    )


@pytest.mark.parametrize(
    "fields",
    [{"amount": 1.5}, {"card": {"number": "4242424242424242"}}, {"cvc": "123"}, {1: "x"}],
    ids=["float", "card-number", "cvc", "non-string-key"],
)
def test_a_fingerprint_refuses_floats_card_secrets_and_odd_keys(fields):
    with pytest.raises((TypeError, ValueError)):
        idem.fingerprint("CreatePayment", fields)


@pytest.mark.parametrize(
    ("key", "ok"),
    [("k", True), ("a" * 255, True), ("", False), ("a" * 256, False), ("a b", False)],
)
def test_a_key_is_one_to_255_printable_characters(key, ok):
    assert idem.check_key(key) is ok
