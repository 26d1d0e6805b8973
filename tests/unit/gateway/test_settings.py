"""GatewaySettings: defaults, GATEWAY_* overrides (nested providers included), and secrets
that never show in a repr, a JSON dump or ``--help``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway_svc.app import client_tls, provider_http_configs
from gateway_svc.settings import PROVIDER_FIELDS, GatewaySettings, gateway_settings_help

SANDBOX_SECRETS = (
    "sk_test_paymesh_sandbox_4eC39HqLyjWDarjtT1zdp7dc",
    "8Hk4Zr72Tq9pW3mX",
    "rzp_secret_paymesh_sandbox",
    "paymesh-sandbox-secret",
)
TLS = {"tls_cert_file": "/pki/gateway.pem", "tls_key_file": "/pki/gateway-key.pem"}
CA = "/pki/ca.pem"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own GATEWAY_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def _settings(**overrides: Any) -> GatewaySettings:
    """Plaintext on loopback: no TLS files needed."""
    return GatewaySettings(plaintext=True, **overrides)


def _mtls(**overrides: Any) -> GatewaySettings:
    """With the gateway's certificate, as in production."""
    fields: dict[str, Any] = {**TLS, **overrides}
    return GatewaySettings(**fields)


def test_the_defaults_are_the_make_run_addresses_and_the_sandbox_credentials() -> None:
    s = _settings()

    assert s.listen_addr == "127.0.0.1:50064"
    assert (s.ledger_addr, s.identity_addr) == ("127.0.0.1:9443", "127.0.0.1:9443")
    assert s.database_url == ""
    assert (s.idempotency_lock_timeout_s, s.idempotency_retention_h) == (90.0, 72.0)
    assert (s.platform_fee_bps, s.platform_fee_fixed_minor) == (0, 0)
    assert s.stripe.secret_key.get_secret_value() == SANDBOX_SECRETS[0]
    assert s.authorizenet.login_id == "paymesh_sbx"
    assert s.authorizenet.transaction_key.get_secret_value() == SANDBOX_SECRETS[1]
    assert s.razorpay.key_id == "rzp_test_paymesh"
    assert s.paypal.client_secret.get_secret_value() == SANDBOX_SECRETS[3]
    # Nothing is configured until the sandbox's (or a real provider's) URL is given.
    assert [p.configured for p in s.providers().values()] == [False] * 4
    assert all(p.sandbox for p in s.providers().values())


def test_environment_variables_override_flat_and_nested_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_PLAINTEXT", "true")
    monkeypatch.setenv("GATEWAY_LEDGER_ADDR", "localhost:19443")
    monkeypatch.setenv("GATEWAY_PLATFORM_FEE_BPS", "150")
    monkeypatch.setenv("GATEWAY_STRIPE__BASE_URL", "https://127.0.0.1:8600/stripe")
    monkeypatch.setenv("GATEWAY_STRIPE__SECRET_KEY", "sk_test_other")
    monkeypatch.setenv("GATEWAY_PAYPAL__TIMEOUT_S", "3.5")

    s = GatewaySettings()

    assert s.ledger_addr == "localhost:19443"
    assert s.platform_fee_bps == 150
    assert s.stripe.base_url == "https://127.0.0.1:8600/stripe"
    assert s.stripe.secret_key.get_secret_value() == "sk_test_other"
    assert s.paypal.timeout_s == 3.5
    assert s.razorpay.base_url == ""  # untouched providers keep their defaults


def test_a_misspelt_nested_variable_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_STRIPE__SECRETKEY", "sk_test_typo")

    with pytest.raises(ValidationError, match="secretkey"):
        _settings()


def test_secrets_never_show_in_repr_json_or_help() -> None:
    s = _settings(stripe={"base_url": "https://h/stripe", "secret_key": "sk_live_do_not_print"})
    shown = "\n".join([repr(s), str(s), s.model_dump_json(), gateway_settings_help()])

    for secret in (*SANDBOX_SECRETS, "sk_live_do_not_print"):
        assert secret not in shown
    assert "**********" in gateway_settings_help()


def test_help_lists_every_provider_variable_with_the_double_underscore() -> None:
    text = gateway_settings_help()

    for name in PROVIDER_FIELDS:
        assert f"GATEWAY_{name.upper()}__BASE_URL" in text
        assert f"GATEWAY_{name.upper()}__SANDBOX" in text
    assert "GATEWAY_STRIPE__SECRET_KEY" in text
    assert "GATEWAY_ROUTING_RULES" in text
    assert "PydanticUndefined" not in text


@pytest.mark.slow
def test_python_m_gateway_svc_help_masks_the_secrets() -> None:
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-m", "gateway_svc", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout

    assert "GATEWAY_STRIPE__SECRET_KEY" in out
    assert not any(secret in out for secret in SANDBOX_SECRETS)


@pytest.mark.parametrize(
    "url",
    ["http://api.stripe.com", "ftp://127.0.0.1/stripe", "127.0.0.1:8600/stripe"],
)
def test_a_provider_url_must_be_https(url: str) -> None:
    with pytest.raises(ValidationError, match="must be https"):
        _settings(stripe={"base_url": url})


def test_plain_http_is_allowed_only_for_a_sandbox_on_loopback() -> None:
    ok = _settings(stripe={"base_url": "http://127.0.0.1:8600/stripe"})

    assert ok.stripe.configured
    with pytest.raises(ValidationError, match="must be https"):
        _settings(stripe={"base_url": "http://127.0.0.1:8600/stripe", "sandbox": False})


def test_without_plaintext_all_three_tls_files_are_required() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_TLS_CA_FILE"):
        _mtls()


def test_plaintext_refuses_a_ledger_or_identity_beyond_loopback() -> None:
    with pytest.raises(ValidationError, match="LEDGER_ADDR"):
        _settings(ledger_addr="envoy:9443")
    with pytest.raises(ValidationError, match="IDENTITY_ADDR"):
        _settings(identity_addr="10.0.0.5:9443")


@pytest.mark.parametrize(
    ("field", "value"),
    [("idempotency_retention_h", 23), ("platform_fee_bps", 10_001), ("internal_timeout_s", 0)],
)
def test_out_of_range_knobs_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        _settings(**{field: value})


def test_only_configured_providers_get_an_http_config_with_the_dev_ca_in_sandbox_mode() -> None:
    s = _mtls(
        tls_ca_file=CA,
        stripe={"base_url": "https://127.0.0.1:8600/stripe", "timeout_s": 4},
        paypal={"base_url": "https://api-m.paypal.com", "sandbox": False},
        razorpay={"base_url": "https://127.0.0.1:8600/razorpay", "ca_file": "/etc/rzp.pem"},
    )

    configs = provider_http_configs(s)

    assert set(configs) == {"stripe", "paypal", "razorpay"}
    assert configs["stripe"].ca_file == CA
    assert configs["stripe"].timeout_s == 4
    assert configs["paypal"].ca_file is None  # a live provider: the system trust store
    assert configs["paypal"].sandbox is False
    assert configs["razorpay"].ca_file == "/etc/rzp.pem"


def test_the_internal_hops_use_the_gateways_own_certificate_unless_plaintext() -> None:
    tls = client_tls(_mtls(tls_ca_file=CA))

    assert tls is not None
    assert (tls.cert_file, tls.key_file, tls.ca_file) == (*TLS.values(), CA)
    assert client_tls(_settings()) is None
