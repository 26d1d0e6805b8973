"""Callback settings: config defaults and env names, control-request checks, records, sinks."""

from __future__ import annotations

import pytest

from sandbox.config import SandboxConfig
from sandbox.webhooks.events import Event, EventSink
from sandbox.webhooks.records import Record, SentLog
from sandbox.webhooks.settings import (
    InvalidSetting,
    Mode,
    Settings,
    Trust,
    check_target,
    parsed_mode,
    patched,
)


def test_the_webhook_secrets_default_to_the_values_the_gateway_uses() -> None:
    config = SandboxConfig()
    assert config.stripe_webhook_secret == "whsec_paymesh_sandbox_stripe_5d1f0c7a9b"
    assert config.authorizenet_signature_key == "7A3F" * 32
    assert len(config.authorizenet_signature_key) == 128
    assert config.razorpay_webhook_secret == "rzp_whsec_paymesh_sandbox"
    assert config.paypal_webhook_id == "WH-PAYMESH-SANDBOX-0001"
    assert config.currencycloud_webhook_secret == "cc_whsec_paymesh_sandbox"
    assert (config.webhook_target, config.webhook_ca_file, config.webhook_delay_ms) == ("", "", 100)


def test_every_webhook_field_has_its_sandbox_env_variable() -> None:
    config = SandboxConfig.from_env(
        {
            "SANDBOX_WEBHOOK_TARGET": "https://127.0.0.1:8443",
            "SANDBOX_WEBHOOK_CA_FILE": "/pki/ca.pem",
            "SANDBOX_WEBHOOK_DELAY_MS": "0",
            "SANDBOX_WEBHOOK_LANES": "8",
            "SANDBOX_STRIPE_WEBHOOK_SECRET": "whsec_other",
            "SANDBOX_AUTHORIZENET_SIGNATURE_KEY": "AB" * 64,
            "SANDBOX_RAZORPAY_WEBHOOK_SECRET": "rzp_other",
            "SANDBOX_PAYPAL_WEBHOOK_ID": "WH-OTHER",
            "SANDBOX_CURRENCYCLOUD_WEBHOOK_SECRET": "cc_other",
        }
    )
    assert (config.webhook_target, config.webhook_ca_file, config.webhook_delay_ms) == (
        "https://127.0.0.1:8443",
        "/pki/ca.pem",
        0,
    )
    assert (SandboxConfig().webhook_lanes, config.webhook_lanes) == (1, 8)
    assert (config.stripe_webhook_secret, config.razorpay_webhook_secret) == (
        "whsec_other",
        "rzp_other",
    )
    assert config.authorizenet_signature_key == "AB" * 64
    assert (config.paypal_webhook_id, config.currencycloud_webhook_secret) == (
        "WH-OTHER",
        "cc_other",
    )
    with pytest.raises(ValueError, match="SANDBOX_WEBHOOK_DELAY_MS must be an integer"):
        SandboxConfig.from_env({"SANDBOX_WEBHOOK_DELAY_MS": "soon"})


def test_a_target_loses_its_trailing_slash_and_must_be_http_with_a_host() -> None:
    assert check_target("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"
    assert check_target("http://gateway/base") == "http://gateway/base"
    assert check_target("") == ""
    for bad in ("127.0.0.1:8443", "https://", "ws://x", "https://x/#f"):
        with pytest.raises(InvalidSetting):
            check_target(bad)


def test_a_patch_changes_only_what_it_names() -> None:
    current = Settings("https://a", Trust(ca_file="", ca_pem=""), enabled=True)
    assert patched(current, {}) == ("https://a", current.trust, True)
    assert patched(current, {"enabled": False, "target": ""}) == ("", current.trust, False)


def test_a_mode_names_a_known_provider_and_stale_needs_a_timestamp() -> None:
    assert parsed_mode({"mode": "duplicate"}) == (Mode.DUPLICATE, None)
    assert parsed_mode({"mode": "stale", "provider": "currencycloud"}) == (
        Mode.STALE,
        "currencycloud",
    )
    with pytest.raises(InvalidSetting, match="authorizenet's signature carries no timestamp"):
        parsed_mode({"mode": "stale", "provider": "authorizenet"})
    with pytest.raises(InvalidSetting, match="unknown provider 'echo'"):
        parsed_mode({"mode": "normal", "provider": "echo"})
    with pytest.raises(InvalidSetting, match="unknown field 'providers'"):
        parsed_mode({"mode": "normal", "providers": ["stripe"]})


def test_a_record_reports_its_last_attempt() -> None:
    log = SentLog(max_records=2)
    retried = Record("stripe", "evt_1", "payment_intent.succeeded", "normal", "https://r")
    retried.attempts += [500, 200]
    failed = Record("razorpay", "evt_2", "payment.captured", "normal", "https://r")
    failed.attempts += ["ConnectError: refused"]
    log.add(retried)
    log.add(failed)
    assert (retried.seq, failed.seq) == (1, 2)
    assert retried.to_json()["status"] == 200 and retried.to_json()["delivered"] is True
    shown = failed.to_json()
    assert (shown["status"], shown["error"], shown["tries"], shown["delivered"]) == (
        None,
        "ConnectError: refused",
        1,
        False,
    )
    assert log.listed("razorpay") == [failed] and log.listed(after_seq=1) == [failed]
    log.add(Record("stripe", "evt_3", "x", "normal", "https://r"))
    assert [r.event_id for r in log.listed()] == ["evt_2", "evt_3"]  # the oldest forgotten


def test_an_unconnected_sink_never_builds_and_a_connected_one_hands_the_builder_on() -> None:
    built: list[str] = []

    def build() -> Event:
        built.append("built")
        return Event("stripe", "evt_1", "t", b"{}")

    sink = EventSink()
    sink.emit(build)
    assert built == []
    received: list[Event] = []
    sink.connect(lambda builder: received.append(builder()))
    sink.emit(build)
    assert built == ["built"] and received[0].event_id == "evt_1"


@pytest.mark.parametrize("lanes", ["0", "-2"])
def test_fewer_than_one_lane_is_refused_by_name(lanes: str) -> None:
    with pytest.raises(ValueError, match="SANDBOX_WEBHOOK_LANES must be 1 or more"):
        SandboxConfig.from_env({"SANDBOX_WEBHOOK_LANES": lanes})
