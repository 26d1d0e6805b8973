"""Container health probe: grpc.health.v1 Check over mTLS on a service's own listeners.

Run inside a service's container by docker-compose's ``healthcheck``:

    python docker/healthcheck.py LEDGER
    python docker/healthcheck.py IDENTITY --listener LISTEN_ADDR
        --http-listener AUTHZ_HTTP_LISTEN_ADDR            (one command line)
    python docker/healthcheck.py SANDBOX --https-listener LISTEN_ADDR

Everything else comes from the service's own environment, so the probe can never
check an address or a CA other than the ones the service was started with:
``<PREFIX>_<LISTENER>`` is the address to dial (a wildcard host such as 0.0.0.0 is
dialled on loopback) and ``<PREFIX>_TLS_CA_FILE`` the CA to trust.

Why it presents Envoy's certificate: services accept only mutual TLS, and only
from the peers on their allow-list (``<PREFIX>_ALLOWED_PEERS``, by default
spiffe://paymesh.local/envoy alone). The probe therefore presents ``envoy.pem``
from the CA's directory (the shared /pki volume), as Envoy's own
grpc_health_check would. The probe itself sends no x-paymesh-principal. The cost:
the envoy key (and the whole /pki volume) is readable in every service container,
so a process there could call the other services as the edge. Acceptable for this
development stack only; production issues each workload its own key alone.

An HTTP listener (identity's ext_authz check listener) is asked ``GET /healthz``
over the same mTLS; it answers 200 ``SERVING`` with the readiness the gRPC health
service reports, as Envoy's own HTTP health check sees it.

An HTTPS listener (the provider sandbox, which like the real providers asks no client
for a certificate) is asked ``GET /healthz`` over server-authenticated TLS only,
trusting ``<PREFIX>_TLS_CA_FILE``, and must answer 200 with ``{"status": "ok"}``.
The sandbox reads neither variable (its command line says where it listens and
which CA issued its certificate); compose sets both for this probe, and
tests/integration/edge/test_compose.py checks they agree with that command line.
The gRPC default (``LISTEN_ADDR``) applies only when no listener of any kind is named.

Exit status: 0 when every listener answers SERVING, 1 otherwise, with one line
on stderr saying which listener failed and why (``docker inspect`` shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2

_HealthRequest = health_pb2.HealthCheckRequest
_HealthResponse = health_pb2.HealthCheckResponse
# A server listening on every interface is dialled on loopback, inside its own container.
_WILDCARD_HOSTS = {
    "0.0.0.0": "127.0.0.1",  # noqa: S104 - a listen address we map, never bind
    "::": "[::1]",
    "[::]": "[::1]",
    "": "127.0.0.1",
}
# Every leaf of the development PKI carries DNS:localhost (svc_kit.pki; the compose
# pki job passes --dns localhost), whatever service name it was issued for.
_TLS_NAME = "localhost"


def dial_target(listen_addr: str) -> str:
    """Where to dial a server that listens on ``listen_addr`` from inside its container."""
    host, sep, port = listen_addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {listen_addr!r}")
    return f"{_WILDCARD_HOSTS.get(host, host)}:{port}"


def _credentials(ca_file: Path, workload: str) -> grpc.ChannelCredentials:
    pki = ca_file.parent
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes(),
        private_key=(pki / f"{workload}-key.pem").read_bytes(),
        certificate_chain=(pki / f"{workload}.pem").read_bytes(),
    )


async def check(target: str, credentials: grpc.ChannelCredentials, timeout_s: float) -> str:
    """The health status of ``target``'s whole server (service ""), by name."""
    options = [("grpc.ssl_target_name_override", _TLS_NAME)]
    async with grpc.aio.secure_channel(target, credentials, options=options) as channel:
        # The stubs type HealthStub for the sync API only; the raw method is typed.
        call: grpc.aio.UnaryUnaryMultiCallable[_HealthRequest, _HealthResponse]
        call = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_HealthRequest.SerializeToString,
            response_deserializer=_HealthResponse.FromString,
        )
        reply = await call(_HealthRequest(service=""), timeout=timeout_s)
    return _HealthResponse.ServingStatus.Name(reply.status)


def check_http(target: str, ca_file: Path, workload: str, timeout_s: float) -> str:
    """``GET /healthz`` over mTLS: SERVING on 200, else the status and body."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(
        ca_file.parent / f"{workload}.pem", ca_file.parent / f"{workload}-key.pem"
    )
    host, _, port = target.rpartition(":")
    conn = http.client.HTTPSConnection(
        host.strip("[]"), int(port), timeout=timeout_s, context=context
    )
    try:
        conn.request("GET", "/healthz", headers={"host": _TLS_NAME})
        reply = conn.getresponse()
        body = reply.read().decode(errors="replace").strip()
    finally:
        conn.close()
    return body if reply.status == 200 and body == "SERVING" else f"HTTP {reply.status} {body}"


def check_https(target: str, ca_file: Path, timeout_s: float) -> str:
    """``GET /healthz`` over TLS that authenticates the server only: SERVING on 200 with a
    JSON ``{"status": "ok"}``, else the status and body."""
    context = ssl.create_default_context(cafile=str(ca_file))
    host, _, port = target.rpartition(":")
    conn = http.client.HTTPSConnection(
        host.strip("[]"), int(port), timeout=timeout_s, context=context
    )
    try:
        conn.request("GET", "/healthz", headers={"host": _TLS_NAME})
        reply = conn.getresponse()
        body = reply.read().decode(errors="replace").strip()
    finally:
        conn.close()
    try:
        status = json.loads(body).get("status") if reply.status == 200 else None
    except (ValueError, AttributeError):
        status = None
    return "SERVING" if status == "ok" else f"HTTP {reply.status} {body}"


async def _grpc_failures(
    prefix: str,
    listeners: Sequence[str],
    env: Mapping[str, str],
    ca_file: Path,
    workload: str,
    timeout_s: float,
) -> list[str]:
    """One line per gRPC listener not SERVING; the probe's certificate is read only if any."""
    if not listeners:
        return []
    try:
        credentials = _credentials(ca_file, workload)
    except OSError as exc:
        return [f"cannot read the probe's TLS files: {exc}"]
    failures: list[str] = []
    for listener in listeners:
        var = f"{prefix}_{listener}"
        if not env.get(var):
            failures.append(f"{var} is not set")
            continue
        try:
            target = dial_target(env[var])
            status = await check(target, credentials, timeout_s)
        except ValueError as exc:
            failures.append(f"{var}: {exc}")
            continue
        except grpc.aio.AioRpcError as exc:
            failures.append(f"{var} ({target}): {exc.code().name}: {exc.details()}")
            continue
        if status != "SERVING":
            failures.append(f"{var} ({target}): {status}")
    return failures


def _http_failures(
    prefix: str, listeners: Sequence[str], env: Mapping[str, str], ask: Callable[[str], str]
) -> list[str]:
    """One line per listener ``ask`` (target -> status) does not find SERVING."""
    failures: list[str] = []
    for listener in listeners:
        var = f"{prefix}_{listener}"
        if not env.get(var):
            failures.append(f"{var} is not set")
            continue
        try:
            target = dial_target(env[var])
            status = ask(target)
        except (ValueError, OSError, http.client.HTTPException) as exc:
            failures.append(f"{var}: {type(exc).__name__}: {exc}")
            continue
        if status != "SERVING":
            failures.append(f"{var} ({target}): {status}")
    return failures


async def probe(
    prefix: str,
    listeners: Sequence[str],
    env: Mapping[str, str],
    workload: str,
    timeout_s: float,
    http_listeners: Sequence[str] = (),
    https_listeners: Sequence[str] = (),
) -> list[str]:
    """One line per failing listener; empty when every one is SERVING."""
    ca_var = f"{prefix}_TLS_CA_FILE"
    if not env.get(ca_var):
        return [f"{ca_var} is not set: the probe trusts the CA the service trusts"]
    ca_file = Path(env[ca_var])
    failures = await _grpc_failures(prefix, listeners, env, ca_file, workload, timeout_s)
    failures += _http_failures(
        prefix, http_listeners, env, lambda t: check_http(t, ca_file, workload, timeout_s)
    )
    failures += _http_failures(
        prefix, https_listeners, env, lambda t: check_https(t, ca_file, timeout_s)
    )
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="healthcheck.py", description="grpc.health.v1 probe of a paymesh service over mTLS."
    )
    parser.add_argument("prefix", help="the service's environment prefix: LEDGER, IDENTITY, ...")
    parser.add_argument(
        "--listener",
        action="append",
        dest="listeners",
        metavar="NAME",
        help="<PREFIX>_<NAME> holds an address to check (repeatable; default LISTEN_ADDR)",
    )
    parser.add_argument(
        "--http-listener",
        action="append",
        dest="http_listeners",
        default=[],
        metavar="NAME",
        help="<PREFIX>_<NAME> holds an HTTP listener to ask GET /healthz (repeatable)",
    )
    parser.add_argument(
        "--https-listener",
        action="append",
        dest="https_listeners",
        default=[],
        metavar="NAME",
        help="<PREFIX>_<NAME> holds an HTTPS listener that asks no client certificate (the"
        " provider sandbox): GET /healthz must answer JSON status ok (repeatable)",
    )
    parser.add_argument("--as", dest="workload", default="envoy", help="certificate to present")
    parser.add_argument("--timeout-s", type=float, default=1.5, help="deadline per Check")
    args = parser.parse_args(argv)
    named_other = args.http_listeners or args.https_listeners
    listeners = args.listeners or ([] if named_other else ["LISTEN_ADDR"])
    failures = asyncio.run(
        probe(
            args.prefix,
            listeners,
            os.environ,
            args.workload,
            args.timeout_s,
            args.http_listeners,
            args.https_listeners,
        )
    )
    for line in failures:
        print(f"healthcheck: {line}", file=sys.stderr)
    if not failures:
        checked = ", ".join([*listeners, *args.http_listeners, *args.https_listeners])
        print(f"healthcheck: {args.prefix} SERVING on {checked}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
