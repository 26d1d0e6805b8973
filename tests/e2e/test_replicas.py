"""`REPLICAS=2 make run`: two processes per service behind Envoy, surviving a SIGKILL.

One stack for the module: scripts/run_stack.py with two replicas of identity,
ledger and gateway (and still one provider sandbox) on SQLite
(scripts/stack/databases.py says why several processes on one SQLite file are
safe; the final VerifyLedger checks it).
Load is REST with the platform admin key, as a merchant backend would send it:
ledger writes carrying a request_id and balance reads, eight at a time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.run_stack_support import (
    StackRun,
    admin_headers,
    alive,
    environ_of,
    run_stack,
    trust,
)

pytestmark = pytest.mark.slow

CONCURRENCY = 8
LOAD_BEFORE_KILL_S = 1.5
# After this long, Envoy has seen the dead replica's connections close and
# retries connection failures on the other one: no request may fail any more.
RECOVERY_WINDOW_S = 3.0
LOAD_AFTER_WINDOW_S = 2.0
AMOUNT = 7


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackRun]:
    with run_stack(tmp_path_factory.mktemp("replicas"), replicas=2) as run:
        run.wait_ready()
        yield run


@dataclass
class Call:
    """One request of the load: when it ran and how it ended."""

    kind: str
    started: float
    ok: bool
    request_id: str = ""


def _ledger_replicas(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    replicas: list[dict[str, Any]] = info["services"]["ledger"]["replicas"]
    return replicas


def _transaction(request_id: str, cash: str, payable: str) -> dict[str, Any]:
    amount = {"currency_code": "USD", "minor_units": str(AMOUNT)}
    return {
        "request_id": request_id,
        "transaction": {
            "entries": [
                {"account_id": cash, "direction": "DIRECTION_DEBIT", "amount": amount},
                {"account_id": payable, "direction": "DIRECTION_CREDIT", "amount": amount},
            ]
        },
    }


async def _open(rest: httpx.AsyncClient, code: str, kind: str) -> str:
    reply = await rest.post(
        "/v1/ledger/accounts",
        params={"request_id": f"open-{code}"},
        json={"code": code, "currency_code": "USD", "type": kind},
    )
    assert reply.status_code == 200, reply.text
    account_id: str = reply.json()["account"]["id"]
    return account_id


class Load:
    """Workers that each post a transaction, then read a balance, until told to stop."""

    def __init__(self, rest: httpx.AsyncClient, cash: str, payable: str) -> None:
        self.rest, self.cash, self.payable = rest, cash, payable
        self.calls: list[Call] = []
        self.stop = asyncio.Event()

    async def call(self, kind: str, request_id: str = "") -> Call:
        started = time.monotonic()
        try:
            if kind == "write":
                body = _transaction(request_id, self.cash, self.payable)
                reply = await self.rest.post("/v1/ledger/transactions", json=body)
            else:
                reply = await self.rest.get(f"/v1/ledger/accounts/{self.payable}/balance")
            ok = reply.status_code == 200
        except httpx.TransportError:
            ok = False
        done = Call(kind, started, ok, request_id)
        self.calls.append(done)
        return done

    async def worker(self) -> None:
        while not self.stop.is_set():
            await self.call("write", f"load-{uuid.uuid4().hex}")
            await self.call("read")


async def _kill_one_ledger_replica_under_load(
    stack: StackRun, rest: httpx.AsyncClient, cash: str, payable: str
) -> tuple[Load, float, dict[str, Any]]:
    load = Load(rest, cash, payable)
    workers = [asyncio.create_task(load.worker()) for _ in range(CONCURRENCY)]
    await asyncio.sleep(LOAD_BEFORE_KILL_S)
    victim = _ledger_replicas(stack.info())[0]
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    await asyncio.sleep(RECOVERY_WINDOW_S + LOAD_AFTER_WINDOW_S)
    load.stop.set()
    await asyncio.gather(*workers)
    return load, killed_at, victim


async def _restarted(stack: StackRun, victim: Mapping[str, Any]) -> dict[str, Any]:
    """The victim's entry in stack.json once the supervisor has brought it back."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = next(r for r in _ledger_replicas(stack.info()) if r["name"] == victim["name"])
        if now["restarts"] == 1:
            return now
        await asyncio.sleep(0.2)
    raise AssertionError(f"{victim['name']} was not restarted:\n{stack.log()}")


def test_each_service_runs_two_replicas_that_envoy_balances(stack: StackRun) -> None:
    info = stack.info()
    with httpx.Client(
        base_url=info["rest_url"], verify=trust(info), headers=admin_headers(info)
    ) as rest:
        replies = [rest.get("/v1/ledger/trial-balance").status_code for _ in range(20)]
    clusters = httpx.get(f"{info['envoy_admin_url']}/clusters").text
    served = {
        line.split("::")[1]: int(line.rsplit("::", 1)[1])
        for line in clusters.splitlines()
        if line.startswith("ledger::") and line.split("::")[2] == "rq_total"
    }

    assert {s: len(v["replicas"]) for s, v in info["services"].items()} == {
        "identity": 2,
        "ledger": 2,
        "gateway": 2,
    }
    assert replies == [200] * 20
    assert sorted(served) == sorted(f"127.0.0.1:{r['grpc']}" for r in _ledger_replicas(info))
    assert all(count > 0 for count in served.values()), served


def test_stack_json_lists_the_replicas_by_name_with_distinct_ports(stack: StackRun) -> None:
    info = stack.info()

    names = [r["name"] for r in info["services"]["identity"]["replicas"]]
    ports = [r["grpc"] for s in info["services"].values() for r in s["replicas"]]
    hot = [r["authz_http"] for r in info["services"]["identity"]["replicas"]]

    assert names == ["identity-1", "identity-2"]
    assert len(set(ports)) == 6
    assert all(isinstance(p, int) and p > 0 for p in ports + hot)
    assert Path(info["admin_api_key_file"]).read_text().strip() == info["admin_api_key"]


def test_both_gateway_replicas_call_the_one_sandbox(stack: StackRun) -> None:
    info = stack.info()
    gateways = info["services"]["gateway"]["replicas"]
    stripe = {environ_of(r["pid"])["GATEWAY_STRIPE__BASE_URL"] for r in gateways}
    sandbox_processes = [
        line
        for line in stack.log().splitlines()
        if line.lstrip().startswith("sandbox | sandbox ready")
    ]

    # One simulated provider state, as real replicas share one real provider.
    assert [r["name"] for r in gateways] == ["gateway-1", "gateway-2"]
    assert stripe == {f"{info['sandbox_url']}/stripe"}
    assert len(sandbox_processes) == 1
    assert alive(info["sandbox"]["pid"])


async def test_requests_keep_succeeding_when_a_ledger_replica_is_killed_mid_load(
    stack: StackRun,
) -> None:
    info = stack.info()
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=info["rest_url"], verify=trust(info), headers=admin_headers(info),
        timeout=15.0, limits=limits,
    ) as rest:  # fmt: skip
        cash = await _open(rest, "platform/cash/USD", "ACCOUNT_TYPE_ASSET")
        payable = await _open(rest, "merchants/m_1/payable/USD", "ACCOUNT_TYPE_LIABILITY")
        load, killed_at, victim = await _kill_one_ledger_replica_under_load(
            stack, rest, cash, payable
        )
        failed = [c for c in load.calls if not c.ok]
        after_window = [c for c in load.calls if c.started > killed_at + RECOVERY_WINDOW_S]
        # A write that failed may or may not have been recorded: the same request_id
        # must now record it exactly once.
        retried = [await load.call("write", c.request_id) for c in failed if c.kind == "write"]
        writes = {c.request_id for c in load.calls if c.kind == "write"}
        balance = (await rest.get(f"/v1/ledger/accounts/{payable}/balance")).json()
        verified = (await rest.post("/v1/ledger:verify", json={})).json()
    back = await _restarted(stack, victim)

    assert len(failed) <= CONCURRENCY, [(c.kind, round(c.started - killed_at, 2)) for c in failed]
    assert len(after_window) >= CONCURRENCY
    assert all(c.ok for c in after_window)
    assert all(c.ok for c in retried)
    assert balance["balance"]["posted"]["minor_units"] == str(AMOUNT * len(writes))
    assert verified["ok"] is True, verified
    assert back["pid"] != victim["pid"] and alive(back["pid"])
    assert back["grpc"] == victim["grpc"]
