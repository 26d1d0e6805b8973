"""The gateway's error tree: one reason per class, every class drawn in the docstring."""

from __future__ import annotations

import inspect

from gateway_svc.domain import errors
from svc_kit.faults import DomainError

CLASSES = [
    c
    for _, c in inspect.getmembers(errors, inspect.isclass)
    if issubclass(c, DomainError) and c.__module__ == errors.__name__
]


def test_every_error_has_its_own_reason():
    reasons = [c.reason for c in CLASSES]
    assert len(reasons) == len(set(reasons))


def test_every_error_is_a_gateway_error_and_drawn_in_the_tree():
    for cls in CLASSES:
        assert issubclass(cls, errors.GatewayError)
        assert f"+-- {cls.__name__}" in (errors.__doc__ or "") or cls is errors.GatewayError


def test_the_specific_transition_reasons_are_the_issues_words():
    assert {c.reason for c in CLASSES if issubclass(c, errors.IllegalTransition)} >= {
        "PAYMENT_NOT_CAPTURABLE",
        "PAYMENT_ALREADY_CAPTURED",
        "PAYMENT_NOT_CANCELABLE",
        "PAYMENT_NOT_REFUNDABLE",
        "CAPTURE_EXCEEDS_AUTHORIZED",
        "REFUND_EXCEEDS_CAPTURED",
        "PAYMENT_OUTCOME_UNKNOWN",
    }
    assert errors.IdempotencyKeyReused.reason == "IDEMPOTENCY_KEY_REUSED"
    assert errors.IdempotencyKeyInUse.reason == "IDEMPOTENCY_KEY_IN_USE"
