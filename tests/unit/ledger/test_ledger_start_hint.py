"""The start-up hint never prints a command the service would refuse."""

from __future__ import annotations

from ledger_svc.__main__ import _how_to_call
from ledger_svc.settings import LedgerSettings


def _settings(allowed_peers: list[str] | None = None) -> LedgerSettings:
    settings = LedgerSettings(
        listen_addr="127.0.0.1:0",
        tls_cert_file="var/pki/ledger.pem",
        tls_key_file="var/pki/ledger-key.pem",
        tls_ca_file="var/pki/ca.pem",
    )
    if allowed_peers is None:
        return settings
    return settings.model_copy(update={"allowed_peers": allowed_peers})


def test_with_the_default_allow_list_the_hint_points_at_envoy() -> None:
    hint = _how_to_call(_settings(), 50061)

    assert "callers allowed: spiffe://paymesh.local/envoy" in hint
    assert "through Envoy" in hint
    assert "buf" not in hint


def test_when_any_certificate_may_call_the_hint_is_a_buf_curl_with_the_client_cert() -> None:
    hint = _how_to_call(_settings(["*"]), 50061)

    assert "--cert var/pki/client.pem --key var/pki/client-key.pem" in hint
    assert "https://127.0.0.1:50061/paymesh.ledger.v1.LedgerService/GetTrialBalance" in hint
