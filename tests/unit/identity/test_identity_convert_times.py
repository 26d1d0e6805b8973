"""Times on the wire: ``convert.ts`` computes what ``Timestamp.FromDatetime`` would, faster, so
every answer carries the same seconds and nanos as before, across the whole datetime range."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from identity_svc.entrypoints.convert import time_in, ts

_EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch, with micros
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 3, 4, 5, 6, 7, 1, tzinfo=timezone(timedelta(hours=14))),
]


def _reference(value: datetime) -> tuple[int, int]:
    out = Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out.seconds, out.nanos


@pytest.mark.parametrize("value", _EDGES, ids=str)
def test_ts_matches_from_datetime_at_the_edges(value: datetime) -> None:
    out = ts(value)

    assert out is not None
    assert (out.seconds, out.nanos) == _reference(value)


def test_ts_matches_from_datetime_across_the_whole_range() -> None:
    rng = random.Random(20261130)
    span_us = (datetime(9999, 12, 31, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )
    for _ in range(20_000):
        value = datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(span_us))
        out = ts(value)
        assert out is not None
        assert (out.seconds, out.nanos) == _reference(value), value


def test_a_time_survives_the_round_trip_to_the_microsecond() -> None:
    value = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

    out = ts(value)

    assert out is not None
    assert time_in(out, True) == value


def test_no_time_leaves_the_field_unset() -> None:
    assert ts(None) is None
