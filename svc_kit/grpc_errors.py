"""Turn exceptions raised by servicers into rich gRPC statuses, in one place.

Each service declares one ``ErrorTable`` (domain error class -> status code) and hands an
``ErrorMapper`` to ``ServiceHost``; ``ErrorMappingInterceptor`` applies it to every RPC, so no
servicer method carries its own try/except (the pattern style.md asks us to avoid).

Every error status carries ``google.rpc.ErrorInfo{reason, domain, metadata}`` (AIP-193) and, when
the error names bad fields, ``google.rpc.BadRequest``. Envoy's transcoder turns both into the JSON
error body REST clients see.

Anything that is not a ``DomainError`` is a bug: the client gets INTERNAL with a fixed message,
because exception text can hold SQL, file paths or provider responses; the traceback goes to
the log instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any, TypeAlias

import grpc
import grpc.aio
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from svc_kit._handlers import Context, wrap_handler
from svc_kit.faults import DomainError, FieldViolation

ErrorTable = Mapping[type[DomainError], grpc.StatusCode]

_log = logging.getLogger(__name__)
_EMPTY: Mapping[str, str] = MappingProxyType({})
# grpc-status-details-bin is written by abort_with_status itself; keeping an older copy
# from the handler would send two conflicting status details.
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def rich_status(
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str,
    domain: str,
    metadata: Mapping[str, str] = _EMPTY,
    violations: Sequence[FieldViolation] = (),
) -> grpc.Status:
    """Build a ``grpc.Status`` whose details hold ErrorInfo and, if any violations, BadRequest."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=dict(metadata))
    details = [_pack(info)]
    if violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in violations
            ]
        )
        details.append(_pack(bad_request))
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return rpc_status.to_status(status)


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class ErrorMapper:
    """Maps an exception to the status a client sees, using one service's ``ErrorTable``."""

    def __init__(self, table: ErrorTable, domain: str) -> None:
        for cls in table:
            if not issubclass(cls, DomainError):
                raise TypeError(f"error table key {cls!r} is not a DomainError subclass")
        if not domain:
            raise ValueError("domain must name the service, e.g. 'ledger.paymesh.local'")
        self._table = dict(table)
        self.domain = domain

    def code_for(self, exc: DomainError) -> grpc.StatusCode | None:
        """The code of the most specific class in the table that ``exc`` is an instance of."""
        for cls in type(exc).__mro__:
            code = self._table.get(cls)
            if code is not None:
                return code
        return None

    def status_for(self, exc: BaseException) -> grpc.Status:
        """The status to abort the RPC with. Logs anything that is not a DomainError."""
        if not isinstance(exc, DomainError):
            _log.error("unhandled exception in RPC handler", exc_info=exc)
            return rich_status(
                grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL", domain=self.domain
            )
        code = self.code_for(exc)
        if code is None:
            # The service's error table misses a class: still answer with its reason so the
            # client can tell errors apart, and tell the developers.
            _log.error("domain error %s has no entry in the error table", type(exc).__name__)
            code = grpc.StatusCode.INTERNAL
        return rich_status(
            code,
            exc.message,
            reason=exc.reason,
            domain=self.domain,
            metadata=exc.metadata,
            violations=exc.violations,
        )


# Decides, before the handler runs, whether a call may proceed: None, or the status to refuse it
# with (svc_kit.peers.PeerAllowList.refusal).
Admission: TypeAlias = "Callable[[Context], grpc.Status | None]"


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Aborts every failing RPC with ``mapper.status_for(exc)``; install it innermost.

    With ``refuse``, a call it refuses is aborted with that status before its handler runs:
    the caller check rides on this interceptor's per-call wrapper instead of adding a third.
    """

    def __init__(
        self, mapper: ErrorMapper, *, bypass: tuple[str, ...] = (), refuse: Admission | None = None
    ) -> None:
        self._mapper = mapper
        self._bypass = bypass  # method prefixes served untouched (ServiceBinding.intercepted)
        self._refuse = refuse

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self._bypass):
            return handler
        return wrap_handler(handler, self._guard)

    @asynccontextmanager
    async def _guard(self, context: Context) -> AsyncIterator[None]:
        if self._refuse is not None:
            refusal = self._refuse(context)
            if refusal is not None:
                await context.abort_with_status(_keep_trailing_metadata(context, refusal))
        try:
            yield
        except grpc.aio.AbortError:
            raise  # the handler already chose its status with context.abort()
        except Exception as exc:  # noqa: BLE001 - every failure must become a status
            # asyncio.CancelledError and GeneratorExit are BaseException: they pass untouched.
            status = self._mapper.status_for(exc)
            await context.abort_with_status(_keep_trailing_metadata(context, status))


def _keep_trailing_metadata(context: Context, status: grpc.Status) -> grpc.Status:
    """``abort`` replaces trailing metadata; carry over what was set (e.g. ``x-request-id``)."""
    earlier = [(k, v) for k, v in context.trailing_metadata() or () if k != _STATUS_DETAILS_KEY]
    if not earlier:
        return status
    return _Status(status.code, status.details, (*earlier, *status.trailing_metadata))


class _Status(grpc.Status):
    """grpc.Status is an abstract attribute bag; grpc_status builds its own private one."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata
