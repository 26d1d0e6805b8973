"""peer_spiffe_id reads the caller's identity from the TLS auth context gRPC hands the servicer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from svc_kit.tls import peer_spiffe_id


class AuthContextOnly:
    """The one ServicerContext method peer_spiffe_id uses, with a fixed auth context."""

    def __init__(self, auth: Mapping[str, Iterable[bytes]]) -> None:
        self._auth = auth

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self._auth


def _spiffe_of(auth: Mapping[str, Iterable[bytes]]) -> str | None:
    context: Any = AuthContextOnly(auth)
    return peer_spiffe_id(context)


def test_the_id_grpc_extracted_is_used() -> None:
    auth = {
        "peer_spiffe_id": [b"spiffe://paymesh.local/gateway"],
        "transport_security_type": [b"ssl"],
    }
    assert _spiffe_of(auth) == "spiffe://paymesh.local/gateway"


def test_a_single_spiffe_san_among_other_sans_is_found() -> None:
    # gRPC leaves peer_spiffe_id out when a certificate has several URI SANs.
    sans = [b"https://example.test/", b"spiffe://paymesh.local/envoy", b"localhost"]
    assert _spiffe_of({"x509_subject_alternative_name": sans}) == "spiffe://paymesh.local/envoy"


@pytest.mark.parametrize(
    "auth",
    [
        {},  # plaintext: no auth context at all
        {"x509_subject_alternative_name": [b"localhost", b"127.0.0.1"]},
        {"x509_subject_alternative_name": [b"spiffe://a.test/x", b"spiffe://b.test/y"]},
    ],
    ids=["plaintext", "no-spiffe-san", "two-spiffe-sans"],
)
def test_no_id_or_an_ambiguous_one_gives_none(auth: Mapping[str, Iterable[bytes]]) -> None:
    assert _spiffe_of(auth) is None
