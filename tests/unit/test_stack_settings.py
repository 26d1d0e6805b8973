"""`make run`'s PAYMESH_* settings: defaults, and a clear refusal of bad values."""

from __future__ import annotations

import pytest

from gateway_svc.settings import GatewaySettings
from scripts.stack.sandbox import sandbox_env
from scripts.stack.services import SERVICES, base_env
from scripts.stack.settings import SERVICE_NAMES, SettingsError, load


def test_defaults_are_the_documented_ports_and_an_optional_client_cert() -> None:
    settings = load([], env={})

    assert settings.rest_addr == "127.0.0.1:8443"
    assert settings.grpc_addr == "127.0.0.1:9443"
    assert settings.replicas == 1
    assert settings.require_client_cert is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("off", False)])
def test_require_client_cert_reads_the_usual_spellings(value: str, expected: bool) -> None:
    settings = load([], env={"PAYMESH_REQUIRE_CLIENT_CERT": value})

    assert settings.require_client_cert is expected


def test_a_value_that_is_not_a_boolean_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="PAYMESH_REQUIRE_CLIENT_CERT must be true or false"):
        load([], env={"PAYMESH_REQUIRE_CLIENT_CERT": "maybe"})


def test_a_bad_address_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="PAYMESH_REST_ADDR must be host:port"):
        load([], env={"PAYMESH_REST_ADDR": "8443"})


def test_make_runs_gateway_lets_merchant_webhooks_reach_a_local_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "GATEWAY_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS",
        "GATEWAY_WEBHOOK_ALLOW_INSECURE_HTTP",
    ):
        monkeypatch.delenv(name, raising=False)
    [gateway] = [spec for spec in SERVICES if spec.name == "gateway"]
    env = base_env(gateway, load([], env={}), "sqlite:///unused.db")
    for name in (
        "GATEWAY_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS",
        "GATEWAY_WEBHOOK_ALLOW_INSECURE_HTTP",
    ):
        monkeypatch.setenv(name, env[name])  # what the stack hands the gateway process
    settings = GatewaySettings(plaintext=True)
    assert settings.webhook_allow_private_destinations is True
    assert settings.webhook_allow_insecure_http is True
    # A deployment (no stack) keeps the SSRF guard: both default to off.
    monkeypatch.delenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS")
    assert GatewaySettings(plaintext=True).webhook_allow_private_destinations is False


@pytest.mark.parametrize(
    ("value", "every", "gateway", "ledger"),
    [("2", 2, 2, 2), ("gateway=3", 1, 3, 1), ("2, gateway=1", 2, 1, 2), ("", 1, 1, 1)],
)
def test_replicas_take_a_count_for_every_service_and_one_per_service(
    value: str, every: int, gateway: int, ledger: int
) -> None:
    settings = load([], env={"PAYMESH_REPLICAS": value})

    assert settings.replicas == every
    assert (settings.count("gateway"), settings.count("ledger")) == (gateway, ledger)
    assert load(["--replicas", value or "1"], env={}).count("gateway") == gateway


@pytest.mark.parametrize(
    ("value", "refusal"),
    [("0", "N from 1 to 16"), ("gateway=17", "N from 1 to 16"), ("two", "not 'two'"),
     ("billing=2", "names 'billing'")],
)  # fmt: skip
def test_a_bad_replica_count_is_refused_with_what_is_allowed(value: str, refusal: str) -> None:
    with pytest.raises(SettingsError, match=refusal):
        load(["--replicas", value], env={})


def test_replicas_may_name_exactly_the_stack_services() -> None:
    assert sorted(SERVICE_NAMES) == sorted(spec.name for spec in SERVICES)


def test_make_runs_sandbox_sends_callbacks_side_by_side_unless_told_otherwise() -> None:
    assert sandbox_env({"PATH": "/bin"}) == {"PATH": "/bin", "SANDBOX_WEBHOOK_LANES": "8"}
    assert sandbox_env({"SANDBOX_WEBHOOK_LANES": "1"})["SANDBOX_WEBHOOK_LANES"] == "1"
