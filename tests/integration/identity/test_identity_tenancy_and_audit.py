"""Tenant isolation, the audit trail and secret hygiene, through the edge."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import pytest

from paymesh.identity.v1 import identity_pb2 as pb
from tests.integration.identity.support import ENVOY_REQUEST_ID, Edge
from tests.integration.identity.test_identity_key_lifecycle import new_key, new_merchant

MISSING_MERCHANT = "mer_01AAAAAAAAAAAAAAAAAAAAAAAA"
MISSING_KEY = "AAAAAAAAAAAAAAAA"


async def rpc_error(edge: Edge, *call: Any) -> grpc.aio.AioRpcError:
    """The gRPC error ``edge.call(*call)`` raises."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.call(*call)
    return raised.value


def shape(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str]:
    """What a prober could compare: the code and the message with the id masked."""
    return error.code(), (error.details() or "").split(" ")[0]


@pytest.mark.parametrize(
    ("rpc", "make", "method", "path"),
    [
        (
            "GetMerchant",
            lambda m, k: pb.GetMerchantRequest(merchant_id=m),
            "GET",
            "/v1/merchants/{m}",
        ),
        (
            "ListApiKeys",
            lambda m, k: pb.ListApiKeysRequest(merchant_id=m),
            "GET",
            "/v1/merchants/{m}/api-keys",
        ),
        (
            "GetUsage",
            lambda m, k: pb.GetUsageRequest(merchant_id=m),
            "GET",
            "/v1/merchants/{m}/usage",
        ),
        ("GetApiKey", lambda m, k: pb.GetApiKeyRequest(key_id=k), "GET", "/v1/api-keys/{k}"),
        (
            "RevokeApiKey",
            lambda m, k: pb.RevokeApiKeyRequest(key_id=k),
            "POST",
            "/v1/api-keys/{k}:revoke",
        ),
    ],
)
async def test_merchant_a_cannot_tell_merchant_b_resources_from_missing_ones(
    edge: Edge, rpc: str, make: Any, method: str, path: str
) -> None:
    a = await new_merchant(edge, "A")
    b = await new_merchant(edge, "B")
    _, a_owner = await new_key(edge, a)
    b_key, _ = await new_key(edge, b)

    foreign = await rpc_error(edge, rpc, make(b, b_key), method, path.format(m=b, k=b_key), a_owner)
    missing = await rpc_error(
        edge,
        rpc,
        make(MISSING_MERCHANT, MISSING_KEY),
        method,
        path.format(m=MISSING_MERCHANT, k=MISSING_KEY),
        a_owner,
    )

    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    assert shape(foreign) == shape(missing)


async def test_a_merchant_key_lists_only_its_own_audit_events(edge: Edge) -> None:
    a = await new_merchant(edge, "A")
    b = await new_merchant(edge, "B")
    _, a_owner = await new_key(edge, a)
    await new_key(edge, b)

    events = await edge.call(
        "ListAuditEvents",
        pb.ListAuditEventsRequest(merchant_id=b),
        "GET",
        "/v1/audit-events",
        a_owner,
    )

    assert events.audit_events
    assert {e.merchant_id for e in events.audit_events} == {a}


async def test_every_mutation_is_audited_with_actor_request_and_source(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    key_id, _ = await new_key(edge, merchant_id)

    events = await edge.call(
        "ListAuditEvents",
        pb.ListAuditEventsRequest(merchant_id=merchant_id),
        "GET",
        "/v1/audit-events",
        edge.admin_token,
    )
    newest = events.audit_events[0]
    verified = await edge.call(
        "VerifyAuditLog",
        pb.VerifyAuditLogRequest(),
        "POST",
        "/v1/audit-events:verify",
        edge.admin_token,
    )

    assert [e.action for e in events.audit_events][:2] == [
        "identity.api_key.create",
        "identity.merchant.create",
    ]
    assert newest.target == f"api-keys/{key_id}"
    assert newest.actor.kind == "api_key" and newest.actor.id
    assert newest.outcome == pb.AUDIT_OUTCOME_SUCCESS
    assert newest.request_id == ENVOY_REQUEST_ID
    assert newest.source_address.startswith("203.0.113.7")
    assert verified.ok and verified.events_checked >= 3


async def test_a_refused_mutation_is_audited_as_a_failure(edge: Edge) -> None:
    a = await new_merchant(edge, "A")
    b = await new_merchant(edge, "B")
    _, a_owner = await new_key(edge, a)
    b_key, _ = await new_key(edge, b)
    await rpc_error(
        edge,
        "RevokeApiKey",
        pb.RevokeApiKeyRequest(key_id=b_key),
        "POST",
        f"/v1/api-keys/{b_key}:revoke",
        a_owner,
    )

    events = await edge.call(
        "ListAuditEvents",
        pb.ListAuditEventsRequest(action="identity.api_key.revoke"),
        "GET",
        "/v1/audit-events",
        edge.admin_token,
    )

    failures = [e for e in events.audit_events if e.outcome == pb.AUDIT_OUTCOME_FAILURE]
    assert [(e.reason, e.merchant_id) for e in failures] == [("API_KEY_NOT_FOUND", a)]


async def test_an_invalid_mutation_is_audited_as_a_failure_too(edge: Edge) -> None:
    merchant_id = await new_merchant(edge)
    error = await rpc_error(
        edge,
        "CreateApiKey",
        pb.CreateApiKeyRequest(merchant_id=merchant_id, api_key=pb.ApiKey(display_name="x")),
        "POST",
        f"/v1/merchants/{merchant_id}/api-keys",
        edge.admin_token,
    )

    events = await edge.call(
        "ListAuditEvents",
        pb.ListAuditEventsRequest(merchant_id=merchant_id, action="identity.api_key.create"),
        "GET",
        "/v1/audit-events",
        edge.admin_token,
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(e.outcome, e.reason) for e in events.audit_events] == [
        (pb.AUDIT_OUTCOME_FAILURE, "VALIDATION_FAILED")
    ]


async def test_no_issued_secret_reaches_the_logs_or_the_sqlite_file(
    edge: Edge, caplog: pytest.LogCaptureFixture, tmp_path: Path, database_url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    merchant_id = await new_merchant(edge)
    key_id, first = await new_key(edge, merchant_id)
    rotated = await edge.call(
        "RotateApiKey",
        pb.RotateApiKeyRequest(key_id=key_id),
        "POST",
        f"/v1/api-keys/{key_id}:rotate",
        edge.admin_token,
    )
    await edge.check("GET", "/v1/me", {"authorization": f"Bearer {rotated.secret}"})
    secrets = [edge.admin_token, first, rotated.secret]

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "the service logged nothing, so the scan would prove nothing"
    for secret in secrets:
        assert secret not in logged
        assert secret.rsplit("_", 1)[1] not in logged
    if database_url.startswith("sqlite"):
        files = list(Path(database_url.split("///", 1)[1]).parent.glob("*.db*"))
        stored = b"".join(f.read_bytes() for f in files)
        assert files and stored
        for secret in secrets:
            assert secret.encode() not in stored
            assert secret.rsplit("_", 1)[1].encode() not in stored
