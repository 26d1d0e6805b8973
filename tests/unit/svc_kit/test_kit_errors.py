"""DomainError, rich_status packing and ErrorMapper choices, without a server."""

from __future__ import annotations

import logging

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from svc_kit.faults import DomainError, FieldViolation
from svc_kit.grpc_errors import ErrorMapper, rich_status


class LedgerError(DomainError):
    reason = "LEDGER_ERROR"


class AccountNotFoundError(LedgerError):
    reason = "ACCOUNT_NOT_FOUND"


class ClosedAccountNotFoundError(AccountNotFoundError):
    reason = "CLOSED_ACCOUNT_NOT_FOUND"


class InvalidTransactionError(LedgerError):
    reason = "INVALID_TRANSACTION"


class UnmappedError(DomainError):
    reason = "SOMETHING_UNMAPPED"


MAPPER = ErrorMapper(
    {
        LedgerError: grpc.StatusCode.FAILED_PRECONDITION,
        AccountNotFoundError: grpc.StatusCode.NOT_FOUND,
        InvalidTransactionError: grpc.StatusCode.INVALID_ARGUMENT,
    },
    domain="ledger.paymesh.local",
)


def _unpack(status: grpc.Status) -> tuple[status_pb2.Status, dict[str, object]]:
    details = dict(status.trailing_metadata)["grpc-status-details-bin"]
    assert isinstance(details, bytes)
    proto = status_pb2.Status.FromString(details)
    unpacked: dict[str, object] = {}
    for packed in proto.details:
        for message in (error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()):
            if packed.Unpack(message):
                unpacked[type(message).__name__] = message
    return proto, unpacked


def test_domain_error_keeps_message_metadata_and_violations() -> None:
    violation = FieldViolation("transaction.entries[1].amount", "must be positive")
    err = InvalidTransactionError("bad entry", metadata={"entry": "1"}, violations=[violation])
    assert err.message == "bad entry"
    assert str(err) == "bad entry"
    assert err.metadata == {"entry": "1"}
    assert err.violations == (violation,)
    assert err.reason == "INVALID_TRANSACTION"


def test_a_reason_that_is_not_upper_snake_case_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="UPPER_SNAKE_CASE"):

        class BadError(DomainError):  # pragma: no cover - the definition itself fails
            reason = "account-not-found"


def test_rich_status_packs_error_info_always() -> None:
    status = rich_status(
        grpc.StatusCode.NOT_FOUND,
        "no such account",
        reason="ACCOUNT_NOT_FOUND",
        domain="ledger.paymesh.local",
        metadata={"account_id": "acc_1"},
    )
    proto, details = _unpack(status)
    assert status.code == grpc.StatusCode.NOT_FOUND
    assert status.details == "no such account"
    assert proto.code == grpc.StatusCode.NOT_FOUND.value[0]
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("ACCOUNT_NOT_FOUND", "ledger.paymesh.local")
    assert dict(info.metadata) == {"account_id": "acc_1"}
    assert "BadRequest" not in details


def test_rich_status_adds_bad_request_when_there_are_field_violations() -> None:
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid",
        reason="INVALID_TRANSACTION",
        domain="ledger.paymesh.local",
        violations=[FieldViolation("a.b", "required"), FieldViolation("c[0]", "too big")],
    )
    _, details = _unpack(status)
    bad = details["BadRequest"]
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("a.b", "required"),
        ("c[0]", "too big"),
    ]
    assert "ErrorInfo" in details


def test_rich_status_round_trips_through_grpc_status_helpers() -> None:
    status = rich_status(grpc.StatusCode.ABORTED, "conflict", reason="CONFLICT", domain="d")
    proto, _ = _unpack(status)
    assert rpc_status.to_status(proto).code == grpc.StatusCode.ABORTED


def test_mapper_picks_the_most_specific_class_in_the_table() -> None:
    assert MAPPER.status_for(AccountNotFoundError("x")).code == grpc.StatusCode.NOT_FOUND
    # Not in the table itself: its nearest mapped ancestor is AccountNotFoundError, not LedgerError.
    status = MAPPER.status_for(ClosedAccountNotFoundError("closed"))
    assert status.code == grpc.StatusCode.NOT_FOUND
    _, details = _unpack(status)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "CLOSED_ACCOUNT_NOT_FOUND"  # the reason stays the raised class's own
    assert MAPPER.status_for(LedgerError("x")).code == grpc.StatusCode.FAILED_PRECONDITION


def test_an_unmapped_domain_error_becomes_internal_but_keeps_its_reason() -> None:
    status = MAPPER.status_for(UnmappedError("odd"))
    assert status.code == grpc.StatusCode.INTERNAL
    _, details = _unpack(status)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "SOMETHING_UNMAPPED"


def test_unmapped_exception_becomes_internal_without_leaking_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        raise RuntimeError("password=hunter2 in postgresql://u:p@db/x")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="svc_kit.grpc_errors"):
            status = MAPPER.status_for(exc)
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error"
    assert b"hunter2" not in dict(status.trailing_metadata)["grpc-status-details-bin"]
    _, details = _unpack(status)
    info = details["ErrorInfo"]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "INTERNAL"
    [record] = caplog.records
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


def test_mapper_refuses_a_table_key_that_is_not_a_domain_error() -> None:
    with pytest.raises(TypeError):
        ErrorMapper({ValueError: grpc.StatusCode.INTERNAL}, domain="d")  # type: ignore[dict-item]
