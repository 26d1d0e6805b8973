"""The checks on appended audit events: one violation per bad field, and a workload records
only its own actions, as itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from identity_svc.domain.audit import ActorKind, Outcome
from identity_svc.domain.errors import ValidationFailed
from identity_svc.service_layer.audit_append import NewEvent, Workload, checked_entries

GATEWAY = Workload("gateway", "spiffe://paymesh.local/gateway")
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
GOOD = NewEvent(
    event_id="gwe_0123456789abcdef",
    event_time=WHEN,
    actor_kind="api_key",
    actor_id="AbCdEfGhIjKlMnOp",
    actor_merchant_id="mer_1",
    action="gateway.payment.create",
    target="payments/pay_1",
    merchant_id="mer_1",
    outcome=Outcome.SUCCESS,
    details={"amount": "1050 USD"},
)


def _fields(event: NewEvent, workload: Workload = GATEWAY) -> set[str]:
    with pytest.raises(ValidationFailed) as refused:
        checked_entries(workload, [event])
    return {v.field for v in refused.value.violations}


def test_a_good_event_becomes_the_entry_to_append() -> None:
    [entry] = checked_entries(GATEWAY, [GOOD])

    assert entry.event_id == GOOD.event_id
    assert entry.actor.kind is ActorKind.API_KEY
    assert entry.event_time == WHEN
    assert entry.details == {"amount": "1050 USD"}


def test_the_gateway_acting_on_its_own_is_a_service_actor_with_its_own_id() -> None:
    event = replace(GOOD, actor_kind="service", actor_id=GATEWAY.spiffe_id, actor_merchant_id="")

    [entry] = checked_entries(GATEWAY, [event])

    assert entry.actor.kind is ActorKind.SERVICE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": "aev_01J0000000000000000000000"}, "events[0].event_id"),
        ({"event_id": "has space"}, "events[0].event_id"),
        ({"event_id": "x" * 41}, "events[0].event_id"),
        ({"event_time": None}, "events[0].event_time"),
        ({"action": "identity.api_key.revoke"}, "events[0].action"),
        ({"action": "gateway.payment"}, "events[0].action"),
        ({"action": "gateway..create"}, "events[0].action"),
        ({"target": ""}, "events[0].target"),
        ({"target": "t" * 201}, "events[0].target"),
        ({"merchant_id": "m" * 41}, "events[0].merchant_id"),
        ({"outcome": None}, "events[0].outcome"),
        ({"reason": "NOT_FOR_A_SUCCESS"}, "events[0].reason"),
        ({"details": {"k" * 65: "v"}}, "events[0].details"),
        ({"actor_kind": "system"}, "events[0].actor.kind"),
        ({"actor_merchant_id": ""}, "events[0].actor.merchant_id"),
        ({"actor_id": ""}, "events[0].actor.id"),
        (
            {"actor_kind": "service", "actor_id": "spiffe://paymesh.local/ledger"},
            "events[0].actor",
        ),
    ],
)
def test_each_bad_field_is_named(change: dict[str, object], field: str) -> None:
    assert _fields(replace(GOOD, **change)) == {field}  # type: ignore[arg-type]


def test_an_event_id_twice_in_one_request_is_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        checked_entries(GATEWAY, [GOOD, GOOD])

    assert [v.field for v in refused.value.violations] == ["events[1].event_id"]


@pytest.mark.parametrize("count", [0, 101])
def test_a_request_holds_1_to_100_events(count: int) -> None:
    events = [replace(GOOD, event_id=f"gwe_{i}") for i in range(count)]

    with pytest.raises(ValidationFailed) as refused:
        checked_entries(GATEWAY, events)

    assert "events" in {v.field for v in refused.value.violations}
