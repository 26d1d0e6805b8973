"""The authz bench's yardstick: a bare grpc.aio server with one trivial unary method.

``python -m bench.authz_trivial PORT`` serves, on 127.0.0.1:PORT, a generic handler at
Check's own method path that ignores the request bytes (no parsing) and answers a fixed,
pre-serialised allow. The bench's client loop can then drive it exactly as it drives
identity_svc, and its CPU per call is what a gRPC call costs in Python with no work in it.
Like identity_svc, it runs on uvloop when uvloop is importable. SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import grpc
import grpc.aio
from google.rpc import status_pb2

from paymesh.third_party.envoy import external_auth_pb2

SERVICE = "envoy.service.auth.v3.Authorization"
METHOD = "Check"
ALLOW = external_auth_pb2.CheckResponse(
    status=status_pb2.Status(code=0), ok_response=external_auth_pb2.OkHttpResponse()
).SerializeToString()


async def _check(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
    return ALLOW


async def serve(port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(
        _check
    )  # bytes in, bytes out
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1.0)


def main(argv: list[str]) -> int:
    """Entry point: ``python -m bench.authz_trivial PORT``."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m bench.authz_trivial PORT", file=sys.stderr)
        return 2
    try:
        import uvloop  # as identity_svc: 15-20% less CPU per RPC (edge.md)
    except ImportError:
        asyncio.run(serve(int(argv[0])))
    else:
        uvloop.run(serve(int(argv[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
