"""The LIKE pattern that matches an event type inside an endpoint's JSON filter, checked by a
real SQL engine (SQLite's LIKE with the same ESCAPE the statements use)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from gateway_svc.adapters.webhook_event_sql import emit_statement, type_filter_pattern


def matches(filter_types: list[str], event_type: str) -> bool:
    with sqlite3.connect(":memory:") as db:
        row = db.execute(
            "SELECT ? LIKE ? ESCAPE '/'",
            (json.dumps(filter_types), type_filter_pattern(event_type)),
        ).fetchone()
    return bool(row[0])


def test_a_named_type_matches_and_one_inside_another_does_not() -> None:
    assert matches(["payment.captured", "refund.succeeded"], "refund.succeeded")
    assert not matches(["payment.captured"], "payment.capture")
    assert not matches(["xpayment.captured"], "payment.captured")


@pytest.mark.parametrize("wild", ["_", "%", "/"])
def test_like_wildcards_in_a_type_are_literal(wild: str) -> None:
    assert matches([f"a{wild}b"], f"a{wild}b")
    assert not matches(["aXb"], f"a{wild}b")


def test_the_emit_statement_is_built_once_per_backend_and_is_cacheable() -> None:
    stmt = emit_statement("postgresql")
    assert stmt is emit_statement("postgresql")
    assert emit_statement("sqlite") is not stmt
    # SQLAlchemy compiles a statement without a cache key on every execution.
    assert stmt._generate_cache_key() is not None
