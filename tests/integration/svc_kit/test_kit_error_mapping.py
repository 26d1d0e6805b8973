"""Error mapping over the wire: every handler shape, rich details, request ids."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.svc_kit.kit_probe_service import SERVICE, Running


def _error_info(err: grpc.aio.AioRpcError) -> Any:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info


async def test_a_domain_error_reaches_the_client_as_the_mapped_status_with_error_info(
    running: Running,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.method("Echo")(b"not-found")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no such thing"
    info = _error_info(caught.value)
    assert (info.reason, info.domain) == ("THING_NOT_FOUND", "kit.paymesh.local")
    assert dict(info.metadata) == {"thing_id": "t1"}


async def test_field_violations_reach_the_client_as_bad_request(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.method("Echo")(b"invalid")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    bad = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad) for detail in status.details)
    assert [(v.field, v.description) for v in bad.field_violations] == [("thing.name", "required")]


async def test_an_unexpected_exception_becomes_internal_without_leaking_its_text(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.method("Echo")(b"crash")
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    assert "hunter2" not in str(caught.value.trailing_metadata())
    assert _error_info(caught.value).reason == "INTERNAL"
    assert any("hunter2" in str(r.exc_info and r.exc_info[1]) for r in caplog.records)


async def test_a_handlers_own_abort_passes_through_unchanged(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.method("Echo")(b"abort")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == "the handler's own abort"


async def test_an_error_raised_mid_stream_arrives_after_the_messages_already_sent(
    running: Running,
) -> None:
    call = running.streaming("Count")(b"2")
    assert [await call.read(), await call.read()] == [b"0", b"1"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert _error_info(caught.value).reason == "THING_NOT_FOUND"


async def test_a_writer_style_stream_handler_is_mapped_too(running: Running) -> None:
    call = running.streaming("CountByWriting")(b"")
    assert await call.read() == b"0"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_client_streaming_and_bidirectional_handlers_are_mapped(running: Running) -> None:
    total_rpc: grpc.aio.StreamUnaryMultiCallable[bytes, bytes]
    total_rpc = running.channel.stream_unary(f"/{SERVICE}/Total")
    assert await total_rpc(iter([b"ab", b"cde"])) == b"5"
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await total_rpc(iter([]))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    shout_rpc: grpc.aio.StreamStreamMultiCallable[bytes, bytes]
    shout_rpc = running.channel.stream_stream(f"/{SERVICE}/Shout")
    replies = [r async for r in shout_rpc(iter([b"hi", b"there"]))]
    assert replies == [b"HI", b"THERE"]
    with pytest.raises(grpc.aio.AioRpcError) as crashed:
        _ = [r async for r in shout_rpc(iter([b"ok", b"crash"]))]
    assert crashed.value.code() == grpc.StatusCode.INTERNAL
    assert crashed.value.details() == "internal error"


async def test_the_request_id_is_echoed_in_trailers_even_on_errors(running: Running) -> None:
    call = running.method("Echo")(b"hello", metadata=(("x-request-id", "req-42"),))
    assert await call == b"hello"
    assert ("x-request-id", "req-42") in tuple(await call.trailing_metadata())

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.method("Echo")(b"not-found", metadata=(("x-request-id", "req-43"),))
    trailers = tuple(caught.value.trailing_metadata())
    assert ("x-request-id", "req-43") in trailers
    assert _error_info(caught.value).reason == "THING_NOT_FOUND"  # details survived the merge


async def test_a_request_id_is_generated_when_absent_or_malformed(running: Running) -> None:
    for metadata in ((), (("x-request-id", "bad id; " + "x" * 200),)):
        call = running.method("Echo")(b"x", metadata=metadata)
        await call
        ids = [v for k, v in await call.trailing_metadata() if k == "x-request-id"]
        assert len(ids) == 1 and len(ids[0]) == 32 and ids[0].isalnum()
