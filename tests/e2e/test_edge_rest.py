"""REST through the generated Envoy config: ext_authz, JSON transcoding, mTLS upstreams.

A dev PKI, the real ledger and identity services (SQLite, mTLS) in-process,
and a real Envoy running the bootstrap scripts/envoy_config renders from the
proto descriptors (tests/e2e/stack_fixture.py), once for the module. Clients
speak HTTPS to Envoy and trust the dev CA; Envoy speaks gRPC over mTLS to
each service and checks its SPIFFE id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.e2e.stack_fixture import Edge, start_edge, start_services
from tests.rest_routes import rest_bindings

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Edge]:
    workdir = tmp_path_factory.mktemp("rest")
    async with start_services(workdir) as services, start_edge(services, workdir / "edge") as e:
        yield e


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest(edge: Edge) -> AsyncIterator[httpx.AsyncClient]:
    async with edge.rest_client() as client:
        yield client


async def test_an_admin_key_reads_its_own_principal_in_snake_case(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.get("/v1/me", headers=edge.auth())

    # Envoy cannot honour response_body "principal" (see scripts/envoy_config),
    # so the principal arrives wrapped in the WhoAmI response.
    principal = reply.json()["principal"]
    assert reply.status_code == 200
    assert principal["merchant_id"]
    assert principal["role"] == "ROLE_ADMIN"


async def test_an_account_created_over_rest_reaches_the_ledger_and_int64_reads_as_string(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    created = await rest.post(
        "/v1/ledger/accounts",
        headers=edge.auth(),
        json={"code": "platform/cash/EUR", "currency_code": "EUR", "type": "ACCOUNT_TYPE_ASSET"},
    )
    balance = await rest.get("/v1/ledger/trial-balance", headers=edge.auth())
    verified = await rest.post("/v1/ledger:verify", headers=edge.auth(), json={})

    account = created.json()["account"]
    assert created.status_code == 200
    assert account["id"].startswith("acct_")
    assert account["currency_code"] == "EUR"
    assert account["normal_balance"] == "NORMAL_BALANCE_DEBIT"
    assert balance.status_code == 200
    assert "currencies" in balance.json()
    assert verified.status_code == 200
    assert verified.json()["accounts_checked"] == "1"


async def test_a_request_without_a_key_gets_identitys_json_401(rest: httpx.AsyncClient) -> None:
    reply = await rest.get("/v1/me")

    body = reply.json()
    assert reply.status_code == 401
    assert body["code"] == 16
    assert body["details"][0]["reason"] == "API_KEY_MISSING"


async def test_an_unknown_rest_path_is_checked_then_answered_404(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    anonymous = await rest.get("/v1/nowhere")
    known = await rest.get("/v1/nowhere", headers=edge.auth())

    assert anonymous.status_code == 401
    assert known.status_code == 404


async def test_an_invalid_account_comes_back_as_400_with_field_violations(
    edge: Edge, rest: httpx.AsyncClient
) -> None:
    reply = await rest.post(
        "/v1/ledger/accounts",
        headers=edge.auth(),
        json={"code": "platform/cash/XX", "currency_code": "EURO", "type": "ACCOUNT_TYPE_ASSET"},
    )

    body = reply.json()
    bad_request = [
        d for d in body["details"] if d["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    ]
    assert reply.status_code == 400
    assert body["code"] == 3
    assert bad_request, body
    fields = [v["field"] for v in bad_request[0]["field_violations"]]
    assert any("currency_code" in f for f in fields), fields


async def test_every_rest_route_without_a_key_is_refused_401_by_the_real_edge(
    rest: httpx.AsyncClient,
) -> None:
    bindings = rest_bindings()

    statuses = {
        (method, path): (await rest.request(method, path, json={})).status_code
        for method, path in bindings
    }

    assert len(bindings) >= 29
    assert {key: code for key, code in statuses.items() if code != 401} == {}
    # The one route that needs no key, on purpose: the providers sign their callbacks.
    assert rest_bindings(public=True) == [("POST", "/v1/provider-webhooks/x")]
