"""Who is calling AuditService: the XFCC header Envoy sets, and the workload it names."""

from __future__ import annotations

import pytest

from identity_svc.entrypoints.workload import workload_of, xfcc_uri
from identity_svc.service_layer.audit_append import Workload

EDGE = "spiffe://paymesh.local/envoy"
GATEWAY = "spiffe://paymesh.local/gateway"


def test_the_uri_of_envoys_sanitize_set_header_is_the_caller() -> None:
    header = f"By={EDGE};Hash=9ac1d2e4f5;URI={GATEWAY}"

    assert xfcc_uri(header) == GATEWAY


def test_quoted_values_and_key_case_are_understood() -> None:
    header = f'By={EDGE};Hash=ab;Subject="CN=gateway,O=paymesh";uri="{GATEWAY}"'

    assert xfcc_uri(header) == GATEWAY


@pytest.mark.parametrize(
    "header",
    [
        f"By={EDGE};Hash=ab",  # no client certificate URI
        f"By={EDGE};URI={GATEWAY},By={EDGE};URI=spiffe://paymesh.local/ledger",  # two hops
        f"By={EDGE};URI={GATEWAY};URI=spiffe://paymesh.local/ledger",  # ambiguous
        f"By={EDGE};garbage;URI={GATEWAY}",  # not key=value
        "",
    ],
)
def test_a_header_that_does_not_name_exactly_one_caller_names_nobody(header: str) -> None:
    assert xfcc_uri(header) is None


def test_a_spiffe_id_of_the_edges_trust_domain_is_a_workload() -> None:
    assert workload_of(GATEWAY, EDGE) == Workload("gateway", GATEWAY)


@pytest.mark.parametrize(
    "spiffe_id",
    [
        "spiffe://evil.test/gateway",  # another trust domain
        "spiffe://paymesh.local/",  # no workload
        "spiffe://paymesh.local/ns/gateway",  # a path, not one of our names
        EDGE,  # Envoy only relays
        "https://paymesh.local/gateway",
    ],
)
def test_anything_else_is_not_a_workload(spiffe_id: str) -> None:
    assert workload_of(spiffe_id, EDGE) is None
