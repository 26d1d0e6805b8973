"""Per-RPC telemetry: request id, one log line, and the RPC metrics.

``ObservabilityInterceptor`` must be installed before (outside) ``ErrorMappingInterceptor`` so
that it sees the final status code: the error mapper has already turned an exception into an
abort by the time control comes back here.

The logging and metrics helpers live in ``svc_kit.logs`` and ``svc_kit.metrics``; they are
re-exported here so a service's entrypoint can take all of its telemetry from one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from svc_kit._handlers import Context, wrap_handler
from svc_kit.logs import configure_logging, request_id_var
from svc_kit.metrics import (
    RPC_LATENCY,
    RPC_REQUESTS,
    register_pool,
    start_metrics_server,
    stop_metrics_server,
)

__all__ = [
    "ObservabilityInterceptor",
    "configure_logging",
    "register_pool",
    "request_id_var",
    "start_metrics_server",
    "stop_metrics_server",
]

REQUEST_ID_KEY = "x-request-id"
# A caller-chosen id ends up in every log line of the call: bound its size and alphabet so a
# client cannot bloat or forge log content. Envoy's generated ids (UUIDs) fit.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Load balancers poll these every few seconds; at INFO they would drown the real traffic.
_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_log = logging.getLogger(__name__)


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Sets the request id, logs one line and records metrics for every RPC."""

    def __init__(self, service: str, *, bypass: tuple[str, ...] = ()) -> None:
        self._service = service
        self._bypass = bypass  # method prefixes served untouched (ServiceBinding.intercepted)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            # Unknown methods get UNIMPLEMENTED from grpc; they get no label of their own,
            # or a scanner could create unbounded metric series.
            return None
        method = handler_call_details.method
        if method.startswith(self._bypass):
            return handler

        def guard(context: Context) -> AbstractAsyncContextManager[None]:
            return self._observe(context, method)

        return wrap_handler(handler, guard)

    @asynccontextmanager
    async def _observe(self, context: Context, method: str) -> AsyncIterator[None]:
        request_id = _request_id_from(context)
        token = request_id_var.set(request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        started = time.perf_counter()
        code = grpc.StatusCode.UNKNOWN  # what grpc reports for an exception nobody mapped
        try:
            yield
            code = _code_of(context) or grpc.StatusCode.OK
            _ensure_request_id_trailer(context, request_id)
        except grpc.aio.AbortError:
            code = _code_of(context) or grpc.StatusCode.UNKNOWN
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED
            raise
        finally:
            self._record(method, code, time.perf_counter() - started)
            # An abandoned streaming generator is finalized from another context; the
            # variable there was never set by us, so there is nothing to undo.
            with contextlib.suppress(ValueError):
                request_id_var.reset(token)

    def _record(self, method: str, code: grpc.StatusCode, elapsed_s: float) -> None:
        RPC_REQUESTS.labels(self._service, method, code.name).inc()
        RPC_LATENCY.labels(self._service, method).observe(elapsed_s)
        level = logging.DEBUG if method.startswith(_QUIET_PREFIXES) else logging.INFO
        _log.log(
            level,
            "rpc %s %s",
            method,
            code.name,
            extra={"method": method, "code": code.name, "duration_ms": round(elapsed_s * 1e3, 3)},
        )


def _request_id_from(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _REQUEST_ID_RE.match(value):
            return value
    return uuid.uuid4().hex


def _code_of(context: Context) -> grpc.StatusCode | None:
    code: object = context.code()
    return code if isinstance(code, grpc.StatusCode) else None


def _ensure_request_id_trailer(context: Context, request_id: str) -> None:
    """A handler's own ``set_trailing_metadata`` replaces ours; put the id back alongside."""
    trailer = tuple(context.trailing_metadata() or ())
    if not any(key == REQUEST_ID_KEY for key, _ in trailer):
        context.set_trailing_metadata((*trailer, (REQUEST_ID_KEY, request_id)))
