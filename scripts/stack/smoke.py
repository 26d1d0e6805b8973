"""The last start-up step: one REST and one gRPC call through Envoy, as a user makes them.

Health checks prove each hop; these two calls prove the chain (TLS to Envoy,
ext_authz with the admin key, JSON transcoding, the internal listener's client
certificate check), so the commands the banner prints are known to work.

``payment_through_edge`` proves the payment path as well (REST -> gateway ->
sandbox): one $1.00 Stripe test payment as the platform admin, so every start
adds one payment to the platform merchant (``PAYMENT_SMOKE`` turns it off). The
start-up asks for it only with a provider the stack pointed at the sandbox,
never one the environment points at a real host. A gateway that does not serve
PaymentService (it answers UNIMPLEMENTED, 501) is reported, not failed: the
step line says the payment was skipped.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path
from typing import Any

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

PAYMENT_SMOKE = True
"""False: the start-up makes no payment (see the module docstring)."""
PAYMENT_PROVIDER = "stripe"
PAYMENT_PATH = "/v1/payments"
# Stripe's documented test payment method that always succeeds; the amount is $1.00.
PAYMENT_BODY: dict[str, Any] = {
    "amount": {"currency_code": "USD", "minor_units": "100"},
    "payment_method": {"token": "pm_card_visa"},
    "description": "make run start-up check",
}
# A payment the provider took: captured at once (the default), or held for a manual capture.
_PAID = frozenset({"PAYMENT_STATUS_CAPTURED", "PAYMENT_STATUS_AUTHORIZED"})
# Retried with the same key: the edge found no gateway yet (502/503), or the gateway is still
# running the first try (409, IDEMPOTENCY_KEY_IN_USE). Not 504: the payment may be under way,
# and waiting another 60 s for it is the start-up deadline's call, not ours.
_PAYMENT_RETRY_HTTP = frozenset({409, 502, 503})
# A payment calls a provider, perhaps with retries: the edge allows it 60 s (envoy_config).
_PAYMENT_TIMEOUT_S = 60.0
# The transcoder's status for UNIMPLEMENTED: a gateway without PaymentService's servicer.
_NOT_SERVED = 501
PAYMENT_SKIPPED = "skipped: the gateway does not serve PaymentService (501 UNIMPLEMENTED)"


def _trust(pki: Path) -> ssl.SSLContext:
    trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    # Presented always: required with PAYMESH_REQUIRE_CLIENT_CERT, harmless without.
    trust.load_cert_chain(pki / "client.pem", pki / "client-key.pem")
    return trust


async def _rest(rest_url: str, pki: Path, admin_key: str) -> None:
    headers = {"authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=rest_url, verify=_trust(pki), timeout=5.0) as client:
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


async def payment_through_edge(rest_url: str, pki: Path, admin_key: str, provider: str) -> str:
    """One payment over REST with ``provider``; the payment's id and status, or
    ``PAYMENT_SKIPPED``.

    It carries an ``Idempotency-Key``, so the retry of a transient failure (Envoy's first
    connection to the gateway) is the same payment, never a second one. Raises RuntimeError
    naming the reply when the payment was refused or the provider did not take it.
    """
    key = f"make-run-{uuid.uuid4().hex}"
    headers = {"authorization": f"Bearer {admin_key}", "idempotency-key": key}
    body = {**PAYMENT_BODY, "provider": provider}
    trust = _trust(pki)
    async with httpx.AsyncClient(
        base_url=rest_url, verify=trust, timeout=_PAYMENT_TIMEOUT_S
    ) as client:
        while True:
            try:
                reply = await client.post(PAYMENT_PATH, headers=headers, json=body)
            except httpx.TransportError:
                await asyncio.sleep(_RETRY_S)
                continue
            if reply.status_code not in _PAYMENT_RETRY_HTTP:
                break
            await asyncio.sleep(_RETRY_S)
    if reply.status_code == _NOT_SERVED:
        return PAYMENT_SKIPPED
    payment = reply.json().get("payment", {}) if reply.status_code == 200 else {}
    status = str(payment.get("status", ""))
    if status not in _PAID:
        raise RuntimeError(
            f"POST {PAYMENT_PATH} with {provider}: {reply.status_code} {reply.text.strip()}"
        )
    return f"{payment.get('id', '?')} {status.removeprefix('PAYMENT_STATUS_')}"


async def through_edge(
    rest_url: str,
    grpc_target: str,
    pki: Path,
    admin_key: str,
    payment_provider: str | None = None,
) -> str:
    """Make the calls (retrying only transient failures); a line saying what was proven.

    With ``payment_provider`` (and the admin key) one payment goes through as well.
    """
    calls = [_grpc(grpc_target, pki)]
    done = [f"gRPC {GRPC_METHOD} with the client certificate"]
    if admin_key:
        calls.append(_rest(rest_url, pki, admin_key))
        done.insert(0, f"REST GET {REST_PATH} as platform admin")
    await asyncio.gather(*calls)
    if admin_key and payment_provider:
        payment = await payment_through_edge(rest_url, pki, admin_key, payment_provider)
        done.append(f"REST POST {PAYMENT_PATH} with {payment_provider}: {payment}")
    return ", ".join(done)
