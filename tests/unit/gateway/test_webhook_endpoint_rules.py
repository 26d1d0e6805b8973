"""The domain's rules for webhook endpoints (domain.webhook_endpoints): which URL problems are
VALIDATION_FAILED and which WEBHOOK_DESTINATION_REFUSED, every bad field at once, the update
mask, the rotation's overlap, and the ListEvents filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.domain.errors import ValidationFailed, WebhookDestinationRefused
from gateway_svc.domain.webhook_endpoints import (
    MAX_ROTATION_OVERLAP,
    DestinationPolicy,
    EndpointSettings,
    check_event_type,
    check_mask,
    check_resolved,
    check_settings,
    check_time_range,
    needs_resolving,
    previous_secret_expiry,
    rotation_overlap,
    updated,
)
from gateway_svc.domain.webhooks import ROTATION_OVERLAP, EndpointSecret

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STRICT = DestinationPolicy()
DEV = DestinationPolicy(allow_insecure_http=True, allow_private=True)


def fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [v.field for v in exc.value.violations]


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # not https
        "https://user:pw@93.184.215.14/hook",
        "https:///no-host",
        "https://93.184.215.14/" + "a" * 2048,
        "ftp://93.184.215.14/",
    ],
)
def test_a_url_of_the_wrong_form_is_a_plain_validation_failure(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_settings(EndpointSettings(url), STRICT)
    assert refused.value.reason == "VALIDATION_FAILED"
    assert fields(refused) == ["webhook_endpoint.url"]


def test_a_private_address_alone_is_a_destination_refusal() -> None:
    with pytest.raises(WebhookDestinationRefused) as refused:
        check_settings(EndpointSettings("https://192.168.1.10/hook"), STRICT)
    assert fields(refused) == ["webhook_endpoint.url"]
    assert "private" in refused.value.violations[0].description


def test_with_other_bad_fields_the_refused_destination_comes_back_among_them() -> None:
    bad = EndpointSettings("https://127.0.0.1/h", "d" * 501, ("payment.captured", "nope"))
    with pytest.raises(ValidationFailed) as refused:
        check_settings(bad, STRICT)
    assert refused.value.reason == "VALIDATION_FAILED"
    assert fields(refused) == [
        "webhook_endpoint.description",
        "webhook_endpoint.enabled_events[1]",
        "webhook_endpoint.url",
    ]


def test_a_valid_endpoint_is_normalized_and_a_host_name_left_to_resolve() -> None:
    given = EndpointSettings("https://hooks.example.com/h", "", ("refund.failed",) * 2)
    settings, destination = check_settings(given, STRICT)
    assert settings.enabled_events == ("refund.failed",)
    assert destination is not None and (destination.host, destination.port) == (
        "hooks.example.com",
        443,
    )
    assert needs_resolving(destination, STRICT) and not needs_resolving(destination, DEV)
    check_resolved(destination, ["93.184.215.14"], STRICT, "webhook_endpoint.url")
    with pytest.raises(WebhookDestinationRefused, match="no address"):
        check_resolved(destination, [], STRICT, "webhook_endpoint.url")


def test_only_the_named_fields_are_checked() -> None:
    settings, destination = check_settings(
        EndpointSettings("", "x" * 900, ("bogus",), enabled=False), STRICT, fields={"enabled"}
    )
    assert destination is None and settings.enabled is False
    with pytest.raises(ValidationFailed) as refused:
        check_settings(EndpointSettings(""), STRICT, fields={"url"})
    assert refused.value.violations[0].description == "is required"


def test_the_development_policy_accepts_http_and_loopback_but_never_multicast() -> None:
    check_settings(EndpointSettings("http://127.0.0.1:8080/demo"), DEV)
    with pytest.raises(WebhookDestinationRefused):
        check_settings(EndpointSettings("https://239.1.2.3/"), DEV)


def test_the_mask_names_only_updatable_fields() -> None:
    assert check_mask(["enabled", "url"]) == {"enabled", "url"}
    with pytest.raises(ValidationFailed) as refused:
        check_mask(["enabled", "create_time", "secret"])
    assert fields(refused) == ["update_mask.paths[1]", "update_mask.paths[2]"]
    with pytest.raises(ValidationFailed) as refused:
        check_mask([])
    assert fields(refused) == ["update_mask"]


def test_an_update_takes_the_masked_fields_and_keeps_the_rest() -> None:
    current = EndpointSettings("https://a.example/h", "orders", ("payment.captured",), True)
    given = EndpointSettings("https://b.example/h", "", (), False)
    assert updated(current, given, {"enabled", "enabled_events"}) == EndpointSettings(
        "https://a.example/h", "orders", (), False
    )


def test_an_overlap_defaults_to_a_day_and_stays_within_a_week() -> None:
    assert rotation_overlap(None) == ROTATION_OVERLAP == timedelta(hours=24)
    assert rotation_overlap(timedelta(0)) == timedelta(0)
    assert rotation_overlap(MAX_ROTATION_OVERLAP) == timedelta(days=7)
    for bad in (timedelta(seconds=-1), MAX_ROTATION_OVERLAP + timedelta(microseconds=1)):
        with pytest.raises(ValidationFailed):
            rotation_overlap(bad)


def test_the_previous_secret_expiry_is_the_last_older_secret_still_signing() -> None:
    secrets = (
        EndpointSecret("whsec_new"),
        EndpointSecret("whsec_a", T0 + timedelta(hours=3)),
        EndpointSecret("whsec_b", T0 + timedelta(hours=1)),
    )
    assert previous_secret_expiry(secrets, T0) == T0 + timedelta(hours=3)
    assert previous_secret_expiry(secrets, T0 + timedelta(hours=3)) is None
    assert previous_secret_expiry(secrets[:1], T0) is None


def test_the_event_filters_refuse_unknown_types_and_reversed_ranges() -> None:
    assert check_event_type("") == "" and check_event_type("payout.failed") == "payout.failed"
    with pytest.raises(ValidationFailed) as refused:
        check_event_type("payout.sent")
    assert fields(refused) == ["type"]
    check_time_range(T0, T0)
    with pytest.raises(ValidationFailed) as refused:
        check_time_range(T0, T0 - timedelta(seconds=1))
    assert fields(refused) == ["end_time"]
