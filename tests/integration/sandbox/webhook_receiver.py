"""A real HTTPS receiver for the sandbox's callbacks, and signature checks written for tests.

``running_receiver(cert, key)`` serves TLS on 127.0.0.1:0 with the stdlib's threaded HTTP
server (nothing of the sandbox's own HTTP code), records every request, and answers 200, or
the statuses scripted with ``fail_next``. ``hooked`` adds what every callback test needs: the
sandbox's callbacks pointed at the receiver (trusting the test PKI's CA) and a client of one
provider's API, already authenticated. The ``*_signature_ok`` checks re-derive each
provider's signature with hmac/hashlib from the documented construction, independently of
sandbox.webhooks::

    async with hooked(sandbox_server, sandbox_pki, "stripe") as hooks:
        await hooks.api.post("/v1/payment_intents", data={...})
        [callback] = await hooks.callbacks()      # flushed: every delivery has finished
        assert stripe_signature_ok(callback)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from sandbox.config import SandboxConfig
from sandbox.testing import SandboxHandle

CONFIG = SandboxConfig()
PATH_PREFIX = "/v1/provider-webhooks/"
TOLERANCE_S = 300


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def provider(self) -> str:
        return self.path.removeprefix(PATH_PREFIX)

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """What the server thread records, and what it will answer next."""

    def __init__(self) -> None:
        self.url = ""
        """``https://127.0.0.1:<port>``, once bound."""
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._statuses: list[int] = []

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then 200 again)."""
        with self._lock:
            self._statuses.extend(statuses)

    def record(self, received: Received) -> int:
        """Keep one request; the status to answer it with."""
        with self._lock:
            self._received.append(received)
            return self._statuses.pop(0) if self._statuses else 200

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def of(self, provider: str) -> list[Received]:
        """The requests POSTed to ``provider``'s route, in arrival order."""
        return [r for r in self.received if r.provider == provider]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver.record(Received("POST", self.path, headers, body))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            del format, args  # quiet: pytest shows the assertions instead

    return Handler


@contextmanager
def running_receiver(cert: Path, key: Path) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1:0 over TLS with ``cert``; stopped on exit."""
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"https://127.0.0.1:{server.server_address[1]}"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def wire(sandbox: SandboxHandle, receiver: Receiver) -> None:
    """Point the sandbox's callbacks at ``receiver``, trusting the test PKI's CA."""
    await sandbox.control.set_webhooks(target=receiver.url, ca_file=str(sandbox.ca_file))


@dataclass(frozen=True)
class Hooked:
    """One provider's API and the receiver its callbacks go to."""

    sandbox: SandboxHandle
    receiver: Receiver
    api: httpx.AsyncClient
    """Based at ``<sandbox>/<provider>``, with the provider's credentials."""
    provider: str

    async def callbacks(self) -> list[Received]:
        """Every callback of the provider so far, once nothing is pending."""
        await self.sandbox.control.flush_webhooks()
        return self.receiver.of(self.provider)


async def _sign_in(api: httpx.AsyncClient, provider: str, config: SandboxConfig) -> None:
    """Give ``api`` the provider's credentials (Authorize.net's travel in each body)."""
    if provider == "stripe":
        api.headers["authorization"] = f"Bearer {config.stripe_secret_key}"
    elif provider == "razorpay":
        api.auth = httpx.BasicAuth(config.razorpay_key_id, config.razorpay_key_secret)
    elif provider == "paypal":
        token = await api.post(
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(config.paypal_client_id, config.paypal_client_secret),
        )
        api.headers["authorization"] = f"Bearer {token.json()['access_token']}"
    elif provider == "currencycloud":
        login = {"login_id": config.currencycloud_login_id, "api_key": config.currencycloud_api_key}
        token = await api.post("/v2/authenticate/api", data=login)
        api.headers["x-auth-token"] = token.json()["auth_token"]


@asynccontextmanager
async def hooked(
    sandbox: SandboxHandle, pki: tuple[Path, Path, Path], provider: str, *, wired: bool = True
) -> AsyncIterator[Hooked]:
    """A receiver on the test PKI's certificate (the callbacks pointed at it unless not
    ``wired``) and a signed-in client of ``provider``'s API."""
    _, cert, key = pki
    with running_receiver(cert, key) as receiver:
        if wired:
            await wire(sandbox, receiver)
        async with sandbox.client(provider) as api:
            await _sign_in(api, provider, sandbox.config)
            yield Hooked(sandbox, receiver, api, provider)


def _hex(key: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key.encode(), message, getattr(hashlib, digest)).hexdigest()


def _t_v1_ok(header: str, secret: str, body: bytes) -> bool:
    fields = [part.split("=", 1) for part in header.split(",")]
    stamps = [int(value) for name, value in fields if name == "t"]
    if len(stamps) != 1 or abs(time.time() - stamps[0]) > TOLERANCE_S:
        return False
    expected = _hex(secret, f"{stamps[0]}.".encode() + body)
    return any(name == "v1" and hmac.compare_digest(value, expected) for name, value in fields)


def stripe_signature_ok(received: Received) -> bool:
    """Stripe's documented check (any v1 matches, 300 s tolerance)."""
    header = received.headers["stripe-signature"]
    return _t_v1_ok(header, CONFIG.stripe_webhook_secret, received.body)


def currencycloud_signature_ok(received: Received) -> bool:
    """The sandbox-defined Currencycloud check (Stripe's construction)."""
    header = received.headers["x-cc-signature"]
    return _t_v1_ok(header, CONFIG.currencycloud_webhook_secret, received.body)


def authorizenet_signature_ok(received: Received) -> bool:
    """``X-ANET-Signature: sha512=<HEX>`` over the body, compared upper-cased."""
    scheme, _, value = received.headers["x-anet-signature"].partition("=")
    expected = _hex(CONFIG.authorizenet_signature_key, received.body, "sha512").upper()
    return scheme == "sha512" and hmac.compare_digest(value.upper(), expected)


def razorpay_signature_ok(received: Received) -> bool:
    """``X-Razorpay-Signature``: hex HMAC-SHA256 of the body under the webhook secret."""
    expected = _hex(CONFIG.razorpay_webhook_secret, received.body)
    return hmac.compare_digest(received.headers["x-razorpay-signature"], expected)
