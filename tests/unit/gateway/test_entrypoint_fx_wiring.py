"""The FX side of the gateway's settings and wiring, without I/O: Currencycloud's settings
group and FX knobs, what ``app`` builds from them, and the answer of an FX RPC on a gateway
without the provider."""

from __future__ import annotations

import os
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from pydantic import ValidationError

from gateway_svc.adapters.providers.currencycloud import CurrencycloudClient
from gateway_svc.app import build_currencycloud, provider_http_configs, quote_policy
from gateway_svc.entrypoints.errors import MAPPER
from gateway_svc.entrypoints.fx_common import FxProviderNotConfigured, require
from gateway_svc.settings import PROVIDER_FIELDS, GatewaySettings, gateway_settings_help

SANDBOX_API_KEY = "cb58751f6736223873756fa0659c26ec49bcea1f22b9892143cecd895797ef29"
CC_URL = "https://127.0.0.1:8600/currencycloud"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own GATEWAY_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _settings(**overrides: object) -> GatewaySettings:
    return GatewaySettings(plaintext=True, **overrides)  # type: ignore[arg-type]


def test_currencycloud_is_off_until_its_url_is_given_with_the_sandboxs_credentials() -> None:
    s = _settings()

    assert not s.currencycloud.configured
    assert build_currencycloud(s) is None
    assert s.currencycloud.login_id == "sandbox@paymesh.local"
    assert s.currencycloud.api_key.get_secret_value() == SANDBOX_API_KEY
    assert (s.fx_quote_ttl_s, s.fx_markup_bps, s.fx_poll_interval_s) == (30.0, 0, 5.0)


def test_the_environment_configures_currencycloud_and_the_fx_knobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_CURRENCYCLOUD__BASE_URL", CC_URL)
    monkeypatch.setenv("GATEWAY_CURRENCYCLOUD__CA_FILE", "/pki/ca.pem")
    monkeypatch.setenv("GATEWAY_CURRENCYCLOUD__TIMEOUT_S", "4")
    monkeypatch.setenv("GATEWAY_FX_QUOTE_TTL_S", "12")
    monkeypatch.setenv("GATEWAY_FX_MARKUP_BPS", "25")
    monkeypatch.setenv("GATEWAY_FX_POLL_INTERVAL_S", "0.5")

    s = _settings()

    assert (s.currencycloud.base_url, s.currencycloud.ca_file) == (CC_URL, "/pki/ca.pem")
    assert s.currencycloud.timeout_s == 4
    assert quote_policy(s).ttl == timedelta(seconds=12)
    assert (quote_policy(s).markup_bps, s.fx_poll_interval_s) == (25, 0.5)


async def test_a_configured_currencycloud_gets_its_client_and_no_card_routing() -> None:
    s = _settings(currencycloud={"base_url": CC_URL})

    client = build_currencycloud(s)
    assert isinstance(client, CurrencycloudClient)
    try:
        assert SANDBOX_API_KEY not in repr(client._config)  # the key stays hidden
    finally:
        await client.aclose()  # never logged in: no session to close, only the pool

    assert "currencycloud" not in PROVIDER_FIELDS
    assert provider_http_configs(s) == {}  # routing never sees it as a card provider


@pytest.mark.parametrize(
    "bad",
    [{"fx_quote_ttl_s": 0.5}, {"fx_quote_ttl_s": 301}, {"fx_markup_bps": 1_001},
     {"fx_poll_interval_s": 0}, {"currencycloud": {"base_url": "http://api.example.com"}}],
)  # fmt: skip
def test_fx_settings_out_of_their_bounds_stop_the_start(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(**bad)


def test_help_lists_currencycloud_and_the_fx_knobs_with_the_key_masked() -> None:
    text = gateway_settings_help()

    for name in ("CURRENCYCLOUD__BASE_URL", "CURRENCYCLOUD__SANDBOX", "CURRENCYCLOUD__TIMEOUT_S",
                 "CURRENCYCLOUD__CA_FILE", "CURRENCYCLOUD__LOGIN_ID", "CURRENCYCLOUD__API_KEY",
                 "FX_QUOTE_TTL_S", "FX_MARKUP_BPS", "FX_POLL_INTERVAL_S"):  # fmt: skip
        assert f"GATEWAY_{name}" in text
    assert SANDBOX_API_KEY not in text


def test_an_fx_rpc_without_the_provider_is_unavailable_with_a_clear_reason() -> None:
    with pytest.raises(FxProviderNotConfigured) as refused:
        require(None, "GetQuote")

    status = MAPPER.status_for(refused.value)
    details = dict(status.trailing_metadata or ())["grpc-status-details-bin"]
    assert isinstance(details, bytes)
    info = error_details_pb2.ErrorInfo()
    assert status_pb2.Status.FromString(details).details[0].Unpack(info)
    assert status.code is grpc.StatusCode.UNAVAILABLE
    assert (info.reason, info.metadata["rpc"]) == ("FX_PROVIDER_NOT_CONFIGURED", "GetQuote")
    assert require("the service", "GetQuote") == "the service"
