"""Wrap every kind of grpc.aio method handler in one async context manager (a "guard").

Both interceptors need the same thing: run code around the whole life of an RPC, whatever its
shape. In grpc.aio, ``intercept_service`` returns an ``RpcMethodHandler``, and only a new handler
built by ``grpc.*_rpc_method_handler`` can change behaviour. Serializers are carried over as-is.

grpc.aio decides how to drive a response-streaming handler by inspecting it: an async generator
function is iterated, a coroutine function is awaited (it writes with ``context.write``). The
wrapper keeps that shape, or streaming handlers would silently stop sending.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any, TypeAlias

import grpc
import grpc.aio

# Strings: the stubs make these classes generic, the runtime classes are not subscriptable.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Guard: TypeAlias = "Callable[[Context], AbstractAsyncContextManager[None]]"
# The stubs type handler behaviours for the sync API; at run time they are grpc.aio callables.
Behaviour: TypeAlias = Callable[..., Any]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def wrap_handler(handler: Handler, guard: Guard) -> Handler:
    """Return a handler equal to ``handler`` whose behaviour runs inside ``guard(context)``."""
    kwargs: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        assert handler.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(
            _wrap_streaming_response(handler.stream_stream, guard), **kwargs
        )
    if handler.request_streaming:
        assert handler.stream_unary is not None
        return grpc.stream_unary_rpc_method_handler(
            _wrap_unary_response(handler.stream_unary, guard), **kwargs
        )
    if handler.response_streaming:
        assert handler.unary_stream is not None
        return grpc.unary_stream_rpc_method_handler(
            _wrap_streaming_response(handler.unary_stream, guard), **kwargs
        )
    assert handler.unary_unary is not None
    return grpc.unary_unary_rpc_method_handler(
        _wrap_unary_response(handler.unary_unary, guard), **kwargs
    )


def _wrap_unary_response(behaviour: Behaviour, guard: Guard) -> Behaviour:
    async def guarded(request: Any, context: Context) -> Any:
        async with guard(context):
            result = behaviour(request, context)
            # paymesh servicers are async; a sync one runs inline rather than being rejected.
            if inspect.isawaitable(result):
                result = await result
            return result

    return guarded


def _wrap_streaming_response(behaviour: Behaviour, guard: Guard) -> Behaviour:
    if not (inspect.isasyncgenfunction(behaviour) or inspect.isgeneratorfunction(behaviour)):
        # Reader/writer style: a coroutine that calls context.write() and returns None.
        return _wrap_unary_response(behaviour, guard)

    async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
        async with guard(context):
            responses = behaviour(request, context)
            if hasattr(responses, "__aiter__"):
                # Close the inner generator now if the client goes away, so its own
                # finally blocks run inside this RPC rather than later from the GC.
                async with aclosing(responses):
                    async for response in responses:
                        yield response
            else:
                for response in responses:
                    yield response

    return guarded
