"""``python -m sandbox`` as the stack runs it: a subprocess with --pki-dir and a ports file."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from svc_kit.pki import write_dev_pki

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 15


@dataclass
class Started:
    process: asyncio.subprocess.Process
    ready_line: str
    ports: dict[str, int]
    ca: ssl.SSLContext


async def _spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Started]:
    pki = tmp_path / "pki"
    write_dev_pki(pki, workloads=())
    ports_file = tmp_path / "run" / "sandbox.ports.json"
    # The echo stand-in only: provider packages being written elsewhere must not fail this.
    process = await _spawn(
        "--pki-dir", str(pki), "--ports-file", str(ports_file), "--providers", "echo"
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT_S)).decode()
        ports = json.loads(ports_file.read_text())
        yield Started(process, line, ports, ssl.create_default_context(cafile=pki / "ca.pem"))
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_it_prints_its_url_writes_its_ports_and_serves_tls(started: Started) -> None:
    url = f"https://127.0.0.1:{started.ports['https']}"
    assert started.ready_line.startswith(f"sandbox ready at {url} ")
    assert started.ports["pid"] == started.process.pid
    async with httpx.AsyncClient(base_url=url, verify=started.ca) as client:
        health = await client.get("/healthz")
    assert health.json() == {"status": "ok", "providers": ["echo"]}


async def test_sigterm_stops_it_cleanly(started: Started) -> None:
    started.process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(started.process.wait(), 10)
    assert code == 0


async def test_a_reset_fault_resets_under_the_real_event_loop(started: Started) -> None:
    # The subprocess runs on uvloop when installed: SO_LINGER must reach its sockets too.
    url = f"https://127.0.0.1:{started.ports['https']}"
    async with httpx.AsyncClient(base_url=url, verify=started.ca) as client:
        added = await client.post("/_control/faults", json={"provider": "echo", "kind": "reset"})
        assert added.status_code == 201
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get("/echo/anything")
        state = (await client.get("/_control/echo/state")).json()
    assert state == {"handled": []}


async def test_an_unknown_provider_is_a_usage_error() -> None:
    process = await _spawn("--plaintext", "--providers", "stripe,nobody")
    _, stderr = await asyncio.wait_for(process.communicate(), READY_TIMEOUT_S)
    assert process.returncode == 2
    assert b"unknown provider 'nobody'" in stderr


async def test_a_pki_dir_without_a_ca_is_a_usage_error(tmp_path: Path) -> None:
    process = await _spawn("--pki-dir", str(tmp_path))
    _, stderr = await asyncio.wait_for(process.communicate(), READY_TIMEOUT_S)
    assert process.returncode == 2
    assert b"no dev CA in" in stderr
