"""EdgePrincipal's header encoding, and trusted_principal's rule for whom to believe."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pytest

from svc_kit.principal import (
    EDGE_SPIFFE_ID,
    PRINCIPAL_HEADER,
    EdgePrincipal,
    metadata_value,
    trusted_principal,
)

PRINCIPAL = EdgePrincipal(
    merchant_id="mer_123",
    key_id="4Jq9XcVbN2kLm8Tz",
    role="developer",
    environment="live",
    source_address="203.0.113.7",
)
EDGE_PEER = {"peer_spiffe_id": [EDGE_SPIFFE_ID.encode()], "transport_security_type": [b"ssl"]}
GATEWAY_PEER = {"peer_spiffe_id": [b"spiffe://paymesh.local/gateway"]}


class Metadatum(NamedTuple):
    """Like grpc's metadata items: a (key, value) pair with named fields."""

    key: str
    value: str | bytes


class FakeContext:
    """The two ServicerContext methods trusted_principal uses."""

    def __init__(
        self,
        metadata: Sequence[tuple[str, str | bytes]] = (),
        auth: Mapping[str, list[bytes]] | None = None,
    ) -> None:
        self._metadata = tuple(Metadatum(k, v) for k, v in metadata)
        self._auth = dict(auth or {})

    def invocation_metadata(self) -> tuple[Metadatum, ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


def _context(
    header: str | None,
    auth: Mapping[str, list[bytes]] | None = None,
    other: Sequence[tuple[str, str | bytes]] = (("user-agent", "grpc-python"),),
) -> Any:
    metadata = list(other)
    if header is not None:
        metadata.append((PRINCIPAL_HEADER, header))
    return FakeContext(metadata, auth)


# ------------------------------------------------------------------ header


def test_a_principal_survives_the_header_round_trip() -> None:
    assert EdgePrincipal.from_header(PRINCIPAL.to_header()) == PRINCIPAL


def test_the_header_is_url_encoded_form_data_in_a_fixed_field_order() -> None:
    assert PRINCIPAL.to_header() == (
        "merchant_id=mer_123&key_id=4Jq9XcVbN2kLm8Tz&role=developer"
        "&environment=live&source_address=203.0.113.7"
    )


@pytest.mark.parametrize(
    "awkward",
    [
        "a&b=c",
        "100% = sure",
        "  leading and trailing  ",
        "plus+sign",
        "Zürich 東京 🚀",
        "semi;colon,comma",
        "%41%zz",
        "line\nbreak",
    ],
)
def test_any_value_survives_the_round_trip_as_one_header_line(awkward: str) -> None:
    principal = EdgePrincipal(awkward, awkward, awkward, awkward, awkward)

    header = principal.to_header()

    assert header.isascii() and "\n" not in header and "\r" not in header
    assert header.count("&") == 4
    assert EdgePrincipal.from_header(header) == principal


def test_an_empty_source_address_round_trips() -> None:
    principal = EdgePrincipal("mer_1", "key", "viewer", "test")

    assert EdgePrincipal.from_header(principal.to_header()) == principal
    assert principal.source_address == ""


@pytest.mark.parametrize("field", ["merchant_id", "key_id", "role", "environment"])
def test_a_header_with_an_empty_required_field_is_refused(field: str) -> None:
    blanked = dataclasses.replace(PRINCIPAL, **{field: ""})

    assert EdgePrincipal.from_header(blanked.to_header()) is None


@pytest.mark.parametrize(
    "field", ["merchant_id", "key_id", "role", "environment", "source_address"]
)
def test_a_header_missing_a_field_is_refused(field: str) -> None:
    parts = [p for p in PRINCIPAL.to_header().split("&") if not p.startswith(f"{field}=")]

    assert EdgePrincipal.from_header("&".join(parts)) is None


def test_a_header_with_an_extra_field_is_refused() -> None:
    assert EdgePrincipal.from_header(PRINCIPAL.to_header() + "&is_admin=1") is None


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_header_that_repeats_a_field_is_refused(position: str) -> None:
    # The edge never repeats a field; "last one wins" would let a smuggled
    # merchant_id choose the tenant.
    smuggled = "merchant_id=mer_evil"
    header = PRINCIPAL.to_header()
    value = f"{smuggled}&{header}" if position == "before" else f"{header}&{smuggled}"

    assert EdgePrincipal.from_header(value) is None


@pytest.mark.parametrize(
    "junk",
    ["", "garbage", "&&&", "merchant_id", "=", "Bearer pm_test_abc", "{'merchant_id': 'x'}"],
)
def test_junk_is_refused_not_raised(junk: str) -> None:
    assert EdgePrincipal.from_header(junk) is None


# ------------------------------------------------------- trusted_principal


def test_the_header_from_the_edge_proxy_is_believed() -> None:
    context = _context(PRINCIPAL.to_header(), EDGE_PEER)

    assert trusted_principal(context) == PRINCIPAL


def test_the_header_from_another_spiffe_peer_is_ignored() -> None:
    context = _context(PRINCIPAL.to_header(), GATEWAY_PEER)

    assert trusted_principal(context) is None
    assert trusted_principal(context, trust_plaintext=True) is None


def test_a_configured_edge_identity_replaces_the_default() -> None:
    context = _context(PRINCIPAL.to_header(), GATEWAY_PEER)

    assert trusted_principal(context, edge_spiffe_id="spiffe://paymesh.local/gateway") == PRINCIPAL
    assert (
        trusted_principal(
            _context(PRINCIPAL.to_header(), EDGE_PEER),
            edge_spiffe_id="spiffe://paymesh.local/gateway",
        )
        is None
    )


def test_without_a_peer_identity_the_header_is_ignored_by_default() -> None:
    assert trusted_principal(_context(PRINCIPAL.to_header(), {})) is None


def test_without_a_peer_identity_a_plaintext_opt_in_believes_the_header() -> None:
    context = _context(PRINCIPAL.to_header(), {})

    assert trusted_principal(context, trust_plaintext=True) == PRINCIPAL


@pytest.mark.parametrize("trust_plaintext", [False, True])
def test_no_header_means_no_principal_whoever_the_peer(trust_plaintext: bool) -> None:
    for auth in (EDGE_PEER, GATEWAY_PEER, {}):
        context = _context(None, auth)
        assert trusted_principal(context, trust_plaintext=trust_plaintext) is None


def test_a_junk_header_from_the_edge_gives_no_principal() -> None:
    assert trusted_principal(_context("not a principal", EDGE_PEER)) is None


def test_metadata_value_returns_the_first_match_and_decodes_bytes() -> None:
    context = _context(None, other=(("x-a", b"bytes-value"), ("x-b", "first"), ("x-b", "second")))

    assert metadata_value(context, "x-a") == "bytes-value"
    assert metadata_value(context, "x-b") == "first"
    assert metadata_value(context, "x-missing") is None
