"""`make run`'s supervisor, run for real: identity, ledger, gateway, the sandbox and Envoy.

Each test starts scripts/run_stack.py as a subprocess (ports 0, files under
tmp_path), waits for stack.json and uses nothing else to reach the stack:
REST with the admin key and the CA, gRPC through the internal listener with
the client certificate. Each test ends its own stack, so each has one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from paymesh.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from tests.e2e.run_stack_support import (
    REPO_ROOT,
    RUN_STACK,
    admin_headers,
    alive,
    all_pids,
    run_stack,
    trust,
)

pytestmark = pytest.mark.slow


def _open_account_over_rest(info: Mapping[str, Any], code: str) -> dict[str, Any]:
    """Create an account with the admin key through Envoy's REST listener."""
    with httpx.Client(base_url=info["rest_url"], verify=trust(info), timeout=10.0) as rest:
        me = rest.get("/v1/me", headers=admin_headers(info))
        created = rest.post(
            "/v1/ledger/accounts",
            params={"request_id": f"open-{code}"},
            headers=admin_headers(info),
            json={"code": code, "currency_code": "EUR", "type": "ACCOUNT_TYPE_ASSET"},
        )
    assert me.status_code == 200, me.text
    assert me.json()["principal"]["role"] == "ROLE_ADMIN"
    assert created.status_code == 200, created.text
    account: dict[str, Any] = created.json()["account"]
    return account


def _client_credentials(info: Mapping[str, Any]) -> grpc.ChannelCredentials:
    """The dev client certificate, from stack.json's paths."""
    return grpc.ssl_channel_credentials(
        root_certificates=Path(info["ca_cert"]).read_bytes(),
        private_key=Path(info["client_key"]).read_bytes(),
        certificate_chain=Path(info["client_cert"]).read_bytes(),
    )


async def _account_codes_over_grpc(
    info: Mapping[str, Any], creds: grpc.ChannelCredentials
) -> list[str]:
    """ListAccounts through Envoy's internal listener, as the client workload."""
    target = info["grpc_url"].removeprefix("https://")
    async with grpc.aio.secure_channel(target, creds) as channel:
        ledger = ledger_pb2_grpc.LedgerServiceStub(channel)
        reply = await ledger.ListAccounts(ledger_pb2.ListAccountsRequest(), timeout=10.0)
    return [account.code for account in reply.accounts]


def _serves_rest_and_grpc(info: Mapping[str, Any]) -> None:
    account = _open_account_over_rest(info, "platform/cash/EUR")

    codes = asyncio.run(_account_codes_over_grpc(info, _client_credentials(info)))

    assert account["id"].startswith("acct_")
    # Among the gateway's own accounts, which the start-up's smoke payment opened.
    assert codes.count("platform/cash/EUR") == 1


def test_the_stack_serves_rest_and_grpc_from_stack_json_and_stops_cleanly_on_sigint(
    tmp_path: Path,
) -> None:
    with run_stack(tmp_path) as stack:
        info = stack.wait_ready()
        mode = stat.S_IMODE(stack.stack_file.stat().st_mode)
        pids = all_pids(info)

        _serves_rest_and_grpc(info)
        code = stack.stop(signal.SIGINT)

        log = stack.log()
        assert mode == 0o600
        assert code == 0, log
        assert set(pids) == {"envoy", "identity", "ledger", "gateway", "sandbox"}
        assert [name for name, pid in pids.items() if alive(pid)] == []
        assert not stack.stack_file.exists()
        # Envoy drains (in-flight requests finish, no new connections), stops, and only
        # then the services stop, so no request reaches a service that is draining; the
        # sandbox goes last, since a draining gateway may still be calling a provider.
        assert log.index("envoy drained") < log.index("envoy stopped")
        assert log.index("envoy stopped") < log.index("services stopped")
        assert log.index("services stopped") < log.index("sandbox stopped")


def test_a_service_killed_with_sigkill_is_reported_and_everything_stops_with_exit_1(
    tmp_path: Path,
) -> None:
    with run_stack(tmp_path) as stack:
        info = stack.wait_ready()
        pids = all_pids(info)

        os.kill(pids["ledger"], signal.SIGKILL)
        code = stack.wait()

        log = stack.log()
        assert code == 1, log
        assert f"ledger (pid {pids['ledger']}) exited: killed by SIGKILL" in log
        assert "stopping everything: ledger exited (killed by SIGKILL)" in log
        assert [name for name, pid in pids.items() if alive(pid)] == []
        assert not stack.stack_file.exists()


def test_a_port_a_stray_envoy_shares_is_refused_by_name_before_anything_starts(
    tmp_path: Path,
) -> None:
    # Envoy listens with SO_REUSEPORT, so a second one on the port would not fail by itself.
    with socket.socket() as stray:
        stray.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        stray.bind(("127.0.0.1", 0))
        stray.listen()
        port = stray.getsockname()[1]
        env = {**os.environ, "PAYMESH_VAR_DIR": str(tmp_path / "var")}
        env |= {"PAYMESH_REST_ADDR": f"127.0.0.1:{port}", "PAYMESH_GRPC_ADDR": "127.0.0.1:0"}
        env |= {"PAYMESH_ADMIN_ADDR": "127.0.0.1:0"}
        result = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(RUN_STACK)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert f"127.0.0.1:{port} (PAYMESH_REST_ADDR) cannot be used: it is in use" in result.stdout
    assert not (tmp_path / "var").exists()


@pytest.fixture
def shared_postgres_url(pg_admin_url: str) -> Iterator[str]:
    """A PAYMESH_DATABASE_URL naming a database prefix of this test only; its databases
    (NAME_identity, NAME_ledger, NAME_gateway, created by the stack) are dropped afterwards."""
    admin = make_url(pg_admin_url)
    name = f"paymesh_t_{uuid.uuid4().hex[:12]}"
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for service in ("identity", "ledger", "gateway"):
            db = sql.Identifier(f"{name}_{service}")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(db))


def _tables(pg_url: str, database: str) -> set[str]:
    url = make_url(pg_url).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {str(row[0]) for row in rows}


def test_paymesh_database_url_gives_each_service_its_own_postgresql_database(
    tmp_path: Path, shared_postgres_url: str
) -> None:
    name = make_url(shared_postgres_url).database
    with run_stack(tmp_path, env={"PAYMESH_DATABASE_URL": shared_postgres_url}) as stack:
        info = stack.wait_ready()

        _serves_rest_and_grpc(info)
        ledger_tables = _tables(shared_postgres_url, f"{name}_ledger")
        identity_tables = _tables(shared_postgres_url, f"{name}_identity")
        code = stack.stop(signal.SIGINT)

    databases = {s: v["database"] for s, v in info["services"].items()}
    assert code == 0
    assert databases["ledger"].startswith("postgresql+psycopg://")
    assert databases["ledger"].endswith(f"/{name}_ledger")
    assert databases["identity"].endswith(f"/{name}_identity")
    assert "accounts" in ledger_tables
    assert "accounts" not in identity_tables
    assert "merchants" in identity_tables
    assert "merchants" not in ledger_tables


def test_require_client_cert_turns_away_rest_clients_without_one(tmp_path: Path) -> None:
    env = {"PAYMESH_REQUIRE_CLIENT_CERT": "true"}
    with run_stack(tmp_path, env=env) as stack:
        info = stack.wait_ready()  # the start-up smoke call presents the client cert
        with_cert = trust(info)
        with_cert.load_cert_chain(info["client_cert"], info["client_key"])
        with httpx.Client(base_url=info["rest_url"], verify=with_cert, timeout=10.0) as rest:
            allowed = rest.get("/v1/me", headers=admin_headers(info))
        with (
            httpx.Client(base_url=info["rest_url"], verify=trust(info), timeout=10.0) as rest,
            pytest.raises(httpx.TransportError),
        ):
            rest.get("/v1/me", headers=admin_headers(info))

    assert allowed.status_code == 200, allowed.text
