"""The ``--explore`` ext_authz servers, one process each, on a loopback port the kernel picks.

``python -m bench.edge_authz_stub --mode MODE --ports-file FILE [--pki DIR] ...`` serves and
writes ``{"port": ..., "pid": ...}`` to FILE once it listens; SIGTERM stops it. MODE:

* ``grpc``: envoy.service.auth.v3.Authorization/Check on grpc.aio doing a dict lookup of the
  Authorization header (``--tokens``, JSON ``{"Bearer <key>": "<principal>"}``); the
  CheckRequest is parsed, because the key is inside it, and the reply is pre-serialised;
* ``http``: the same dict lookup behind Envoy's HTTP ext_authz protocol on a bare asyncio
  HTTP/1.1 server (``bench.edge_authz_http``);
* ``http-identity``: identity's own Authorizer (``--database-url``, ``--pepper-file``) behind
  that HTTP server: what identity's Check would cost served that way.

``grpc`` against ``http`` isolates the protocol's cost on the Python side: both do the same
work. With ``--pki`` they present identity's dev certificate and require a client certificate
of the CA (mTLS, as identity's Check listener). They run on uvloop, as identity_svc does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
from pathlib import Path

import grpc
import grpc.aio
from google.rpc import status_pb2

from bench.edge_authz_http import HttpCheck, IdentityAnswers, dict_answers
from identity_svc.adapters.pepper import load_pepper
from paymesh.third_party.envoy import core_pb2, external_auth_pb2, http_status_pb2

CHECK_SERVICE = "envoy.service.auth.v3.Authorization"
PRINCIPAL_HEADER = "x-paymesh-principal"
_OVERWRITE = core_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def grpc_replies(tokens: dict[str, str]) -> tuple[dict[str, bytes], bytes]:
    """Pre-serialised CheckResponses: an allow per known token, and the one deny."""

    def allow(principal: str) -> bytes:
        header = core_pb2.HeaderValue(key=PRINCIPAL_HEADER, value=principal)
        ok = external_auth_pb2.OkHttpResponse(
            headers=[core_pb2.HeaderValueOption(header=header, append_action=_OVERWRITE)],
            headers_to_remove=["authorization", "x-api-key"],
        )
        reply = external_auth_pb2.CheckResponse(status=status_pb2.Status(code=0), ok_response=ok)
        return reply.SerializeToString()

    deny = external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=16),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=http_status_pb2.Unauthorized)
        ),
    ).SerializeToString()
    return {token: allow(p) for token, p in tokens.items()}, deny


async def serve_grpc(tokens: dict[str, str], pki: Path | None) -> tuple[int, grpc.aio.Server]:
    allows, deny = grpc_replies(tokens)
    parse = external_auth_pb2.CheckRequest.FromString

    async def check(raw: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        headers = parse(raw).attributes.request.http.headers
        return allows.get(headers.get("authorization", ""), deny)

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(check)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(CHECK_SERVICE, {"Check": handler}),)
    )
    if pki is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        pair = ((pki / "identity-key.pem").read_bytes(), (pki / "identity.pem").read_bytes())
        creds = grpc.ssl_server_credentials(
            [pair], root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=True
        )
        port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    return port, server


def server_tls(pki: Path) -> ssl.SSLContext:
    """identity's dev certificate; a client certificate of the dev CA is required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "identity.pem", pki / "identity-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc_server: grpc.aio.Server | None = None
    identity: IdentityAnswers | None = None
    if args.mode == "grpc":
        port, grpc_server = await serve_grpc(json.loads(args.tokens.read_text()), args.pki)
    else:
        if args.mode == "http":
            answer = dict_answers(json.loads(args.tokens.read_text()))
        else:
            pepper = load_pepper(str(args.pepper_file), environment="test")
            answer = identity = IdentityAnswers(args.database_url, pepper)
            await identity.start()
        tls = server_tls(args.pki) if args.pki else None
        server = await loop.create_server(lambda: HttpCheck(answer), "127.0.0.1", 0, ssl=tls)
        port = server.sockets[0].getsockname()[1]
    tmp = args.ports_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}))
    tmp.replace(args.ports_file)
    await stop.wait()
    if grpc_server is not None:
        await grpc_server.stop(grace=0.5)
    if identity is not None:
        await identity.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_authz_stub")
    add = parser.add_argument
    add("--mode", required=True, choices=("grpc", "http", "http-identity"))
    add("--ports-file", type=Path, required=True)
    add("--pki", type=Path, help="serve mTLS with identity's dev certificate from here")
    add("--tokens", type=Path, help="grpc, http: JSON {authorization value: principal}")
    add("--database-url", help="http-identity: identity's database")
    add("--pepper-file", type=Path, help="http-identity: identity's pepper")
    args = parser.parse_args(argv)
    if args.mode == "http-identity" and not (args.database_url and args.pepper_file):
        parser.error("http-identity needs --database-url and --pepper-file")
    if args.mode != "http-identity" and args.tokens is None:
        parser.error(f"{args.mode} needs --tokens")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop  # as identity_svc runs
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
