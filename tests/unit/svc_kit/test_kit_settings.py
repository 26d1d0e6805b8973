"""ServiceSettings validation and the --help table."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from svc_kit.settings import ServiceSettings, is_loopback_addr, settings_help


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="forbid")


def test_tls_files_are_required_and_the_error_names_the_env_vars() -> None:
    with pytest.raises(ValidationError) as caught:
        DemoSettings(tls_cert_file="c.pem")
    text = str(caught.value)
    assert "DEMO_TLS_KEY_FILE" in text and "DEMO_TLS_CA_FILE" in text
    assert "DEMO_TLS_CERT_FILE," not in text  # the one that is set is not reported missing


def test_tls_settings_are_accepted_on_any_address() -> None:
    settings = DemoSettings(
        listen_addr="0.0.0.0:50051", tls_cert_file="c", tls_key_file="k", tls_ca_file="ca"
    )
    assert settings.plaintext is False


@pytest.mark.parametrize("addr", ["0.0.0.0:50051", "10.1.2.3:1", "[::]:50051", "ledger:50051"])
def test_plaintext_on_a_non_loopback_address_is_refused(addr: str) -> None:
    with pytest.raises(ValidationError, match="DEMO_PLAINTEXT=true is refused"):
        DemoSettings(plaintext=True, listen_addr=addr)


@pytest.mark.parametrize(
    "addr", ["127.0.0.1:0", "127.9.9.9:50051", "[::1]:50051", "localhost:50051", "unix:/tmp/s"]
)
def test_plaintext_on_loopback_is_allowed_without_tls_files(addr: str) -> None:
    assert DemoSettings(plaintext=True, listen_addr=addr).plaintext is True
    assert is_loopback_addr(addr)


def test_settings_are_read_from_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_PLAINTEXT", "true")
    monkeypatch.setenv("DEMO_LISTEN_ADDR", "127.0.0.1:7000")
    monkeypatch.setenv("DEMO_LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")  # unprefixed: must be ignored
    settings = DemoSettings()
    assert (settings.listen_addr, settings.log_level) == ("127.0.0.1:7000", "DEBUG")


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        DemoSettings(plaintext=True, log_level="LOUD")


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ValidationError, match="shutdown_grace_s"):
        DemoSettings(plaintext=True, shutdown_grace_s=-1)


def test_settings_help_lists_every_env_var_with_default_and_description() -> None:
    text = settings_help(DemoSettings)
    lines = text.splitlines()
    assert lines[0].split() == ["VARIABLE", "DEFAULT", "DESCRIPTION"]
    for name in DemoSettings.model_fields:
        assert any(line.startswith(f"DEMO_{name.upper()} ") for line in lines), name
    plaintext_line = next(line for line in lines if line.startswith("DEMO_PLAINTEXT "))
    assert "false" in plaintext_line and "only on a loopback address" in plaintext_line
    assert any(line.startswith("DEMO_LISTEN_ADDR ") and "127.0.0.1:50051" in line for line in lines)


def test_only_envoy_may_call_by_default() -> None:
    assert DemoSettings(plaintext=True).allowed_peers == ["spiffe://paymesh.local/envoy"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "spiffe://paymesh.local/envoy, spiffe://paymesh.local/client",
            ["spiffe://paymesh.local/envoy", "spiffe://paymesh.local/client"],
        ),
        ('["spiffe://paymesh.local/client"]', ["spiffe://paymesh.local/client"]),
        ("*", ["*"]),
        ("spiffe://a.test/x,spiffe://a.test/x,", ["spiffe://a.test/x"]),
    ],
    ids=["comma-separated", "json", "star", "duplicates-and-trailing-comma"],
)
def test_allowed_peers_are_read_comma_separated_or_as_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("DEMO_ALLOWED_PEERS", raw)
    assert DemoSettings(plaintext=True).allowed_peers == expected


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("", "at least one SPIFFE id"),
        ("*,spiffe://paymesh.local/envoy", "list it alone"),
        ("envoy", "is not a SPIFFE id"),
        ("spiffe://paymesh.local", "is not a SPIFFE id"),
        ("[not json", "not a JSON list"),
    ],
)
def test_a_useless_or_malformed_allow_list_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str, complaint: str
) -> None:
    monkeypatch.setenv("DEMO_ALLOWED_PEERS", raw)
    with pytest.raises(ValidationError, match=complaint):
        DemoSettings(plaintext=True)


def test_settings_help_shows_the_allow_list_default_as_the_variable_is_written() -> None:
    line = next(
        line for line in settings_help(DemoSettings).splitlines() if "DEMO_ALLOWED_PEERS" in line
    )
    assert "spiffe://paymesh.local/envoy" in line and "['" not in line
    assert '"*" alone admits every' in line
