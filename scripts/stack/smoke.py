"""The last start-up step: one REST and one gRPC call through Envoy, as a user makes them.

Health checks prove each hop; these two calls prove the chain (TLS to Envoy,
ext_authz with the admin key, JSON transcoding, the internal listener's client
certificate check), so the commands the banner prints are known to work.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import grpc
import grpc.aio
import httpx

from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from scripts.stack.probes import mtls

REST_PATH = "/v1/me"
GRPC_METHOD = "GetTrialBalance"
_RETRY_S = 0.1
# Statuses worth another try while Envoy's first connections to the replicas open.
_TRANSIENT_HTTP = frozenset({502, 503, 504})


async def _rest(rest_url: str, pki: Path, admin_key: str) -> None:
    trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    # Presented always: required with PAYMESH_REQUIRE_CLIENT_CERT, harmless without.
    trust.load_cert_chain(pki / "client.pem", pki / "client-key.pem")
    headers = {"authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=rest_url, verify=trust, timeout=5.0) as client:
        while True:
            try:
                reply = await client.get(REST_PATH, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(_RETRY_S)
                continue
            if reply.status_code == 200:
                return
            if reply.status_code == 401:
                raise RuntimeError(
                    f"GET {REST_PATH} refused the platform admin key (401 {reply.text.strip()})."
                    " The key file was made for another identity database; delete it and start"
                    " again to create a new one."
                )
            if reply.status_code not in _TRANSIENT_HTTP:
                raise RuntimeError(f"GET {REST_PATH}: {reply.status_code} {reply.text.strip()}")
            await asyncio.sleep(_RETRY_S)


async def _grpc(target: str, pki: Path) -> None:
    async with grpc.aio.secure_channel(target, mtls(pki, "client")) as channel:
        stub = ledger_pb2_grpc.LedgerServiceStub(channel)
        while True:
            try:
                await stub.GetTrialBalance(ledger_pb2.GetTrialBalanceRequest(), timeout=5.0)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise RuntimeError(
                        f"gRPC {GRPC_METHOD} through {target} with the client certificate:"
                        f" {exc.code().name} {exc.details()}"
                    ) from None
                await asyncio.sleep(_RETRY_S)
                continue
            return


async def through_edge(rest_url: str, grpc_target: str, pki: Path, admin_key: str) -> str:
    """Make both calls (retrying only transient failures); a line saying what was proven."""
    calls = [_grpc(grpc_target, pki)]
    done = f"gRPC {GRPC_METHOD} with the client certificate"
    if admin_key:
        calls.append(_rest(rest_url, pki, admin_key))
        done = f"REST GET {REST_PATH} as platform admin, {done}"
    await asyncio.gather(*calls)
    return done
