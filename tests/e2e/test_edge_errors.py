"""Every error a REST client sees has one shape, through the real Envoy to the real services.

The shape is a JSON google.rpc.Status, ``{"code", "message", "details"}``, with
content-type application/json and no grpc-* header, whoever made the error:
a service (converted by the transcoder), identity's ext_authz denial (passed
through untouched), or Envoy itself (rewritten by the generated
local_reply_config). One set of services and one Envoy serve the module;
tests that break a service get their own.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
import pytest_asyncio

from identity_svc.domain.permissions import Role
from paymesh.identity.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.stack_fixture import Edge, Services, start_edge, start_services

pytestmark = pytest.mark.asyncio(loop_scope="module")
MAX_REQUEST_BYTES = 64 * 1024
EDGE_DOMAIN = "edge.paymesh.local"
IDENTITY_DOMAIN = "identity.paymesh.local"
LEDGER_DOMAIN = "ledger.paymesh.local"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def edge_error(code: int, message: str, reason: str, cause: str) -> dict[str, Any]:
    """The body Envoy's own replies are rewritten to."""
    info = {"@type": ERROR_INFO, "domain": EDGE_DOMAIN, "reason": reason}
    return {"code": code, "message": message, "details": [{**info, "metadata": {"cause": cause}}]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Services]:
    async with start_services(tmp_path_factory.mktemp("errors")) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(services: Services) -> AsyncIterator[Edge]:
    workdir = services.pki.parent / "edge"
    options = {
        "access_log_path": str(workdir / "access.log"),
        "max_request_bytes": MAX_REQUEST_BYTES,
    }
    async with start_edge(services, workdir, **options) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with edge.rest_client() as client:
        yield client


def json_reply(reply: httpx.Response, status: int) -> Any:
    """The JSON body of ``reply``, once its status and the one-shape headers are checked."""
    leaked = sorted(name for name in reply.headers if name.startswith("grpc-"))
    assert (reply.status_code, reply.headers.get("content-type"), leaked) == (
        status,
        "application/json",
        [],
    ), reply.text
    return reply.json()


def _account(code: str, currency: str = "EUR") -> dict[str, str]:
    return {"code": code, "currency_code": currency, "type": "ACCOUNT_TYPE_ASSET"}


async def test_a_success_carries_json_and_no_grpc_header(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.get("/v1/me", headers=edge.auth())

    assert json_reply(reply, 200)["principal"]["role"] == "ROLE_ADMIN"


async def test_a_bad_currency_is_a_400_whose_bad_request_names_the_field(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.post(
        "/v1/ledger/accounts", headers=edge.auth(), json=_account("platform/bad/EURO", "EURO")
    )

    assert json_reply(reply, 400) == {
        "code": 3,
        "message": "invalid account: account.currency_code 'EURO' is not an ISO 4217 currency code",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "VALIDATION_FAILED",
                "domain": LEDGER_DOMAIN,
                "metadata": {},
            },
            {
                "@type": BAD_REQUEST,
                "field_violations": [
                    {
                        "field": "account.currency_code",
                        "description": "'EURO' is not an ISO 4217 currency code",
                        "reason": "",
                    }
                ],
            },
        ],
    }


async def test_an_unknown_query_parameter_is_the_transcoders_400_as_json(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.get("/v1/ledger/accounts?colour=red", headers=edge.auth())

    assert json_reply(reply, 400) == edge_error(
        3,
        'Could not find field "colour" in the type "paymesh.ledger.v1.ListAccountsRequest".',
        "INVALID_REQUEST",
        "early_grpc_json_transcode_failure{INVALID_ARGUMENT}",
    )


async def test_an_unparsable_body_and_number_are_400_as_json(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    body = await rest.post("/v1/ledger/accounts", headers=edge.auth(), content=b"{not json")
    number = await rest.get("/v1/ledger/accounts?page_size=ten", headers=edge.auth())

    assert json_reply(body, 400) == edge_error(
        3,
        "Expected : between key:value pair.\n{not json\n     ^",
        "INVALID_REQUEST",
        "grpc_json_transcode_failure{INVALID_ARGUMENT}",
    )
    assert json_reply(number, 400) == edge_error(
        3,
        'page_size: invalid value "ten" for type TYPE_INT32',
        "INVALID_REQUEST",
        "early_grpc_json_transcode_failure{INVALID_ARGUMENT}",
    )


async def test_an_escaped_slash_in_the_path_is_refused_400_as_json(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.get("/v1/ledger/accounts/a%2Fb", headers=edge.auth())

    assert json_reply(reply, 400) == edge_error(
        3, "", "INVALID_REQUEST", "path_normalization_failed"
    )


async def test_no_key_is_identitys_own_401_untouched(rest: httpx.AsyncClient) -> None:
    reply = await rest.get("/v1/ledger/trial-balance")

    assert json_reply(reply, 401) == {
        "code": 16,
        "message": "an API key is required: send 'Authorization: Bearer <API key>' or 'X-Api-Key'",
        "details": [{"@type": ERROR_INFO, "reason": "API_KEY_MISSING", "domain": IDENTITY_DOMAIN}],
    }
    assert reply.headers["www-authenticate"] == "Bearer"
    # identity's own serialization (spaces after separators), not a json_format re-render.
    assert reply.text.startswith('{"code": 16, "message": ')


async def test_a_role_without_the_permission_is_identitys_403(
    services: Services, edge: Edge, rest: httpx.AsyncClient
) -> None:
    viewer = await services.key(Role.VIEWER)

    reply = await rest.post(
        "/v1/ledger/accounts", headers=edge.auth(viewer), json=_account("platform/v/EUR")
    )

    assert json_reply(reply, 403) == {
        "code": 7,
        "message": "the API key's role 'viewer' lacks the permission 'ledger:write' that "
        "paymesh.ledger.v1.LedgerService/CreateAccount requires",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "PERMISSION_MISSING",
                "domain": IDENTITY_DOMAIN,
                "metadata": {"permission": "ledger:write", "role": "viewer"},
            }
        ],
    }


async def test_an_unknown_path_and_a_missing_account_are_404(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    path = await rest.get("/v1/nowhere", headers=edge.auth())
    account = await rest.get("/v1/ledger/accounts/acct_missing", headers=edge.auth())

    assert json_reply(path, 404) == {
        "code": 5,
        "message": "no API method is bound to this HTTP method and path",
        "details": [{"@type": ERROR_INFO, "reason": "ROUTE_NOT_FOUND", "domain": IDENTITY_DOMAIN}],
    }
    assert json_reply(account, 404) == {
        "code": 5,
        "message": "no account 'acct_missing'",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "ACCOUNT_NOT_FOUND",
                "domain": LEDGER_DOMAIN,
                "metadata": {"account": "acct_missing"},
            }
        ],
    }


async def test_opening_the_same_account_code_twice_is_409(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    code = f"platform/dup/{uuid.uuid4().hex[:8]}"

    first = await rest.post("/v1/ledger/accounts", headers=edge.auth(), json=_account(code))
    second = await rest.post("/v1/ledger/accounts", headers=edge.auth(), json=_account(code))

    assert json_reply(first, 200)["account"]["code"] == code
    assert json_reply(second, 409) == {
        "code": 6,
        "message": f"an account with code '{code}' already exists",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "ACCOUNT_CODE_TAKEN",
                "domain": LEDGER_DOMAIN,
                "metadata": {"code": code},
            }
        ],
    }


async def test_a_body_over_the_limit_is_413_as_json(edge: Edge, rest: httpx.AsyncClient) -> None:
    fits = await rest.post(
        "/v1/ledger/accounts", headers=edge.auth(), json=_account("x" * 300, "EURO")
    )
    too_big = await rest.post(
        "/v1/ledger/accounts", headers=edge.auth(), json=_account("x" * MAX_REQUEST_BYTES)
    )

    assert json_reply(fits, 400)["code"] == 3  # the service saw it, and refused the fields
    assert json_reply(too_big, 413) == edge_error(
        3, "Payload Too Large", "REQUEST_TOO_LARGE", "request_payload_too_large"
    )


async def test_a_key_over_its_own_rate_limit_gets_identitys_429(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    merchant = await rest.post(
        "/v1/merchants",
        headers=edge.auth(),
        json={"display_name": "Throttled", "default_currency": "EUR"},
    )
    merchant_id = json_reply(merchant, 200)["merchant"]["merchant_id"]
    created = await rest.post(
        f"/v1/merchants/{merchant_id}/api-keys",
        headers=edge.auth(),
        json={
            "display_name": "tiny",
            "role": "ROLE_OWNER",
            "rate_limit": {"requests_per_second": 1, "burst": 1},
        },
    )
    secret = json_reply(created, 200)["secret"]

    first = await rest.get("/v1/me", headers=edge.auth(secret))
    second = await rest.get("/v1/me", headers=edge.auth(secret))

    assert json_reply(first, 200)["principal"]["role"] == "ROLE_OWNER"
    assert json_reply(second, 429) == {
        "code": 8,
        "message": "the API key's rate limit is exhausted; retry later",
        "details": [
            {
                "@type": ERROR_INFO,
                "reason": "RATE_LIMITED",
                "domain": IDENTITY_DOMAIN,
                "metadata": {"retry_after_s": "1"},
            }
        ],
    }
    assert second.headers["retry-after"] == "1"


async def test_a_service_nobody_can_reach_is_503_as_json(services: Services) -> None:
    # A port the kernel handed out and took back: connections are refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    upstreams = {**services.upstreams(), "ledger": [dead]}
    workdir = services.pki.parent / "no-ledger"
    async with (
        start_edge(services, workdir, upstreams=upstreams) as e,
        e.rest_client() as client,
    ):
        reply = await client.get("/v1/ledger/trial-balance", headers=e.auth())

    body = json_reply(reply, 503)
    assert (body["code"], body["details"][0]["reason"]) == (14, "UPSTREAM_UNAVAILABLE")
    assert body["message"].startswith("upstream connect error or disconnect/reset before headers")


async def test_the_edge_fails_closed_with_503_when_identity_is_down(tmp_path: Path) -> None:
    async with (
        start_services(tmp_path) as own,
        start_edge(own, tmp_path / "edge") as e,
        e.rest_client() as client,
    ):
        before = await client.get("/v1/me", headers=e.auth())
        await own.identity_host.stop(0)
        after = await client.get("/v1/me", headers=e.auth())

    assert json_reply(before, 200)["principal"]["role"] == "ROLE_ADMIN"
    assert json_reply(after, 503) == edge_error(
        14, "authorization service unavailable", "AUTHZ_UNAVAILABLE", "ext_authz_error"
    )


async def test_the_access_log_line_carries_the_request_id_the_reply_names(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.get(
        "/v1/ledger/trial-balance", headers={**edge.auth(), "x-request-id": "chosen-by-client"}
    )

    request_id = reply.headers["x-request-id"]
    line = await edge.access_log_line(lambda line: line["request_id"] == request_id)
    assert request_id != "chosen-by-client"  # an outside request gets Envoy's own id
    assert {k: line[k] for k in ("listener", "method", "path", "routed_path", "status")} == {
        "listener": "rest",
        "method": "GET",
        "path": "/v1/ledger/trial-balance",
        "routed_path": "/paymesh.ledger.v1.LedgerService/GetTrialBalance",
        "status": 200,
    }
    assert (line["grpc_status"], line["upstream_cluster"]) == (0, "ledger")
    assert line["duration_ms"] >= 0 and line["bytes_out"] > 0
    assert line["user_agent"].startswith("python-httpx/")


async def test_a_grpc_call_through_the_rest_listener_keeps_its_grpc_status(
    services: Services, edge: Edge
) -> None:
    credentials = grpc.ssl_channel_credentials((services.pki / "ca.pem").read_bytes())
    target = f"localhost:{edge.envoy.ports['rest']}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.WhoAmI(identity_pb2.WhoAmIRequest(), timeout=5.0)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
