"""REST through the generated Envoy config: ext_authz, JSON transcoding, mTLS upstreams.

A dev PKI, the real ledger and identity services (SQLite, mTLS) in-process,
and a real Envoy running the bootstrap scripts/envoy_config.py renders from
the proto descriptors. Clients speak HTTPS to Envoy and trust the dev CA;
Envoy speaks gRPC over mTLS to each service and checks its SPIFFE id.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from identity_svc.adapters.pepper import load_pepper
from identity_svc.app import create_app as create_identity
from identity_svc.service_layer.identity import Identity
from identity_svc.settings import IdentitySettings
from ledger_svc.app import create_app as create_ledger
from ledger_svc.settings import LedgerSettings
from scripts.envoy_config import EdgeConfig, build_descriptor_set, render
from svc_kit import db
from svc_kit.pki import main as pki_main
from tests.e2e.envoy_support import run_envoy
from tests.rest_routes import rest_bindings


@dataclass
class Edge:
    rest: httpx.AsyncClient
    admin_token: str

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_token}"}


def _tls(pki: Path, workload: str) -> dict[str, Any]:
    """The TLS settings of ``workload``, from the dev PKI."""
    return {
        "tls_cert_file": str(pki / f"{workload}.pem"),
        "tls_key_file": str(pki / f"{workload}-key.pem"),
        "tls_ca_file": str(pki / "ca.pem"),
    }


@pytest_asyncio.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    pki = tmp_path / "pki"
    pki_main(["init", "--dir", str(pki)])
    identity_db = f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"
    identity_settings = IdentitySettings(
        listen_addr="127.0.0.1:0",
        authz_listen_addr="127.0.0.1:0",
        database_url=identity_db,
        key_pepper_file=str(tmp_path / "pepper"),
        **_tls(pki, "identity"),
    )
    ledger = await create_ledger(
        LedgerSettings(
            listen_addr="127.0.0.1:0",
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
            **_tls(pki, "ledger"),
        )
    )
    identity = await create_identity(identity_settings)
    await ledger.start()
    await identity.start()
    engine = db.make_engine(identity_db)
    try:
        pepper = load_pepper(identity_settings.key_pepper_file, environment="test")
        _, _, admin_token = await Identity(engine, pepper=pepper).bootstrap_admin()
        assert identity.hot_port is not None
        descriptor_set = tmp_path / "paymesh.pb"
        build_descriptor_set(descriptor_set)
        config = render(
            EdgeConfig(
                rest_addr="127.0.0.1:0",
                admin_addr="127.0.0.1:0",
                ledger_addr=f"127.0.0.1:{ledger.port}",
                identity_addr=f"127.0.0.1:{identity.port}",
                identity_authz_addr=f"127.0.0.1:{identity.hot_port}",
                pki_dir=pki,
                descriptor_set=descriptor_set,
            )
        )
        with run_envoy(config, tmp_path) as envoy:
            base = f"https://localhost:{envoy.ports['rest']}"
            trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
            async with httpx.AsyncClient(base_url=base, verify=trust, timeout=5.0) as client:
                yield Edge(client, admin_token)
    finally:
        await engine.dispose()
        await identity.stop(0)
        await ledger.stop(0)


async def test_an_admin_key_reads_its_own_principal_in_snake_case(edge: Edge) -> None:
    reply = await edge.rest.get("/v1/me", headers=edge.auth())

    # Envoy cannot honour response_body "principal" (see scripts/envoy_config.py),
    # so the principal arrives wrapped in the WhoAmI response.
    principal = reply.json()["principal"]
    assert reply.status_code == 200
    assert principal["merchant_id"]
    assert principal["role"] == "ROLE_ADMIN"


async def test_an_account_created_over_rest_reaches_the_ledger_and_int64_reads_as_string(
    edge: Edge,
) -> None:
    created = await edge.rest.post(
        "/v1/ledger/accounts",
        headers=edge.auth(),
        json={"code": "platform/cash/EUR", "currency_code": "EUR", "type": "ACCOUNT_TYPE_ASSET"},
    )
    balance = await edge.rest.get("/v1/ledger/trial-balance", headers=edge.auth())
    verified = await edge.rest.post("/v1/ledger:verify", headers=edge.auth(), json={})

    account = created.json()["account"]
    assert created.status_code == 200
    assert account["id"].startswith("acct_")
    assert account["currency_code"] == "EUR"
    assert account["normal_balance"] == "NORMAL_BALANCE_DEBIT"
    assert balance.status_code == 200
    assert "currencies" in balance.json()
    assert verified.status_code == 200
    assert verified.json()["accounts_checked"] == "1"


async def test_a_request_without_a_key_gets_identitys_json_401(edge: Edge) -> None:
    reply = await edge.rest.get("/v1/me")

    body = reply.json()
    assert reply.status_code == 401
    assert body["code"] == 16
    assert body["details"][0]["reason"] == "API_KEY_MISSING"


async def test_an_unknown_rest_path_is_checked_then_answered_404(edge: Edge) -> None:
    anonymous = await edge.rest.get("/v1/nowhere")
    known = await edge.rest.get("/v1/nowhere", headers=edge.auth())

    assert anonymous.status_code == 401
    assert known.status_code == 404


async def test_an_invalid_account_comes_back_as_400_with_field_violations(edge: Edge) -> None:
    reply = await edge.rest.post(
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
    edge: Edge,
) -> None:
    bindings = rest_bindings()

    statuses = {
        (method, path): (await edge.rest.request(method, path, json={})).status_code
        for method, path in bindings
    }

    assert len(bindings) >= 29
    assert {key: code for key, code in statuses.items() if code != 401} == {}
