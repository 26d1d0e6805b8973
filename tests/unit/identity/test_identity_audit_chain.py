"""The audit hash chain: canonical content, sealing, and what ChainVerifier reports."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from identity_svc.domain.audit import (
    GENESIS_HASH,
    Actor,
    ActorKind,
    AuditEntry,
    AuditRecord,
    ChainVerifier,
    Outcome,
    ProblemKind,
    canonical_content,
    chain_hash,
    seal,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _entry(n: int, **changes: Any) -> AuditEntry:
    entry = AuditEntry(
        event_id=f"evt_{n}",
        event_time=T0 + timedelta(seconds=n),
        actor=Actor(ActorKind.API_KEY, f"key_{n}", "mer_1"),
        action="identity.keys.create",
        target=f"merchants/mer_1/keys/key_{n}",
        merchant_id="mer_1",
        outcome=Outcome.SUCCESS,
        reason="",
        request_id=f"req_{n}",
        source_address="203.0.113.7",
        details={"role": "developer", "environment": "live"},
    )
    return dataclasses.replace(entry, **changes)


def _chain(length: int = 5) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for seq in range(1, length + 1):
        record = seal(seq, prev, _entry(seq))
        records.append(record)
        prev = record.hash
    return records


def _verify(records: Sequence[AuditRecord], head: AuditRecord | None) -> list[tuple[int, str]]:
    verifier = ChainVerifier()
    verifier.check(records)
    head_seq, head_hash = (head.sequence, head.hash) if head else (0, GENESIS_HASH)
    return [(p.sequence, p.kind.value) for p in verifier.finish(head_seq, head_hash)]


def _edit(record: AuditRecord, **changes: Any) -> AuditRecord:
    """What someone with UPDATE on the table does: change content, keep the stored hashes."""
    return dataclasses.replace(record, entry=dataclasses.replace(record.entry, **changes))


# ----------------------------------------------------------------- sealing


def test_the_first_record_links_to_genesis_and_each_next_to_the_one_before() -> None:
    records = _chain()

    assert records[0].prev_hash == GENESIS_HASH == "0" * 64
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert [r.sequence for r in records] == [1, 2, 3, 4, 5]


def test_a_records_hash_is_sha256_of_the_previous_hash_bytes_then_its_canonical_content() -> None:
    record = _chain(2)[1]

    expected = hashlib.sha256(
        bytes.fromhex(record.prev_hash) + canonical_content(2, record.entry)
    ).hexdigest()

    assert record.hash == expected == chain_hash(record.prev_hash, 2, record.entry)


def test_the_same_entry_at_another_sequence_or_after_another_hash_seals_differently() -> None:
    entry = _entry(1)

    base = chain_hash(GENESIS_HASH, 1, entry)

    assert chain_hash(GENESIS_HASH, 2, entry) != base
    assert chain_hash("f" * 64, 1, entry) != base


# ------------------------------------------------------- canonical content


def test_canonical_content_is_fixed_byte_for_byte() -> None:
    # Field names, order, separators and time format are frozen forever: every
    # stored hash depends on them. This literal must never change.
    entry = _entry(1, details={"b": "2", "a": "1"}, reason="ok")

    assert canonical_content(7, entry) == (
        b'{"action":"identity.keys.create","actor":["api_key","key_1","mer_1"],'
        b'"details":{"a":"1","b":"2"},"id":"evt_1","merchant":"mer_1","outcome":"success",'
        b'"reason":"ok","request_id":"req_1","seq":7,"source":"203.0.113.7",'
        b'"target":"merchants/mer_1/keys/key_1","time":"2025-03-01T12:00:01.123456Z"}'
    )


def test_the_same_entry_always_gives_the_same_bytes() -> None:
    assert canonical_content(3, _entry(3)) == canonical_content(3, _entry(3))


def test_the_order_of_details_does_not_matter() -> None:
    forwards = _entry(1, details={"a": "1", "b": "2", "c": "3"})
    backwards = _entry(1, details={"c": "3", "b": "2", "a": "1"})

    assert canonical_content(1, forwards) == canonical_content(1, backwards)


@pytest.mark.parametrize(
    "zone",
    [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), UTC],
)
def test_the_same_instant_in_any_time_zone_gives_the_same_bytes(zone: timezone) -> None:
    entry = _entry(1)
    shown_elsewhere = dataclasses.replace(entry, event_time=entry.event_time.astimezone(zone))

    assert canonical_content(1, shown_elsewhere) == canonical_content(1, entry)


def test_a_different_instant_gives_different_bytes_down_to_the_microsecond() -> None:
    entry = _entry(1)
    later = dataclasses.replace(entry, event_time=entry.event_time + timedelta(microseconds=1))

    assert canonical_content(1, later) != canonical_content(1, entry)


def test_non_ascii_text_is_hashed_as_utf8_not_escaped() -> None:
    content = canonical_content(1, _entry(1, details={"note": "Zürich — 東京"}))

    assert "Zürich — 東京".encode() in content


# ------------------------------------------------------------ verification


def test_an_untouched_chain_verifies_clean() -> None:
    records = _chain()
    verifier = ChainVerifier()

    verifier.check(records)

    assert verifier.finish(records[-1].sequence, records[-1].hash) == []
    assert verifier.checked == 5


def test_an_empty_log_with_a_genesis_head_verifies_clean() -> None:
    assert _verify([], None) == []


def test_checking_in_pages_finds_the_same_as_checking_at_once() -> None:
    records = _chain(7)
    records[4] = _edit(records[4], action="identity.keys.revoke")
    verifier = ChainVerifier()

    for start in range(0, 7, 3):
        verifier.check(records[start : start + 3])

    paged = [(p.sequence, p.kind.value) for p in verifier.finish(7, records[-1].hash)]
    assert paged == _verify(records, records[-1]) == [(5, "EDITED")]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"action": "identity.keys.revoke"}, id="action"),
        pytest.param({"details": {"role": "admin", "environment": "live"}}, id="details"),
        pytest.param({"details": {}}, id="details-removed"),
        pytest.param({"outcome": Outcome.FAILURE}, id="outcome"),
        pytest.param({"event_time": T0 + timedelta(days=1)}, id="event_time"),
        pytest.param({"actor": Actor(ActorKind.SYSTEM, "key_3", "mer_1")}, id="actor"),
        pytest.param({"merchant_id": "mer_2"}, id="merchant"),
        pytest.param({"reason": "covered up"}, id="reason"),
        pytest.param({"source_address": "198.51.100.1"}, id="source"),
    ],
)
def test_editing_any_field_of_a_middle_record_is_reported_as_edited_at_its_sequence(
    change: dict[str, Any],
) -> None:
    records = _chain()
    records[2] = _edit(records[2], **change)

    assert _verify(records, records[-1]) == [(3, "EDITED")]


def test_editing_a_record_and_recomputing_its_hash_breaks_the_next_link() -> None:
    records = _chain()
    forged = _edit(records[2], outcome=Outcome.FAILURE)
    records[2] = seal(3, forged.prev_hash, forged.entry)

    assert _verify(records, records[-1]) == [(4, "BROKEN_LINK")]


def test_deleting_a_middle_record_is_reported_as_a_gap_and_a_broken_link() -> None:
    records = _chain()
    del records[2]

    assert _verify(records, records[-1]) == [(4, "GAP"), (4, "BROKEN_LINK")]


def test_two_records_read_out_of_order_are_reported() -> None:
    records = _chain()
    records[1], records[2] = records[2], records[1]

    problems = _verify(records, records[-1])

    assert problems == [
        (3, "GAP"),
        (3, "BROKEN_LINK"),
        (2, "GAP"),
        (2, "BROKEN_LINK"),
        (4, "GAP"),
        (4, "BROKEN_LINK"),
    ]


def test_swapping_two_records_and_renumbering_them_is_reported() -> None:
    # The rows keep their sequence numbers; everything else changes places.
    records = _chain()
    two, three = records[1], records[2]
    records[1] = dataclasses.replace(three, sequence=2)
    records[2] = dataclasses.replace(two, sequence=3)

    problems = _verify(records, records[-1])

    assert problems == [
        (2, "BROKEN_LINK"),
        (2, "EDITED"),
        (3, "BROKEN_LINK"),
        (3, "EDITED"),
        (4, "BROKEN_LINK"),
    ]


def test_swapping_the_contents_of_two_records_in_place_is_reported_as_edits() -> None:
    records = _chain()
    two, three = records[1], records[2]
    records[1] = dataclasses.replace(two, entry=three.entry)
    records[2] = dataclasses.replace(three, entry=two.entry)

    assert _verify(records, records[-1]) == [(2, "EDITED"), (3, "EDITED")]


def test_inserting_a_record_in_the_middle_is_reported() -> None:
    records = _chain()
    intruder = seal(3, records[1].hash, _entry(99))
    records.insert(2, intruder)

    problems = _verify(records, records[-1])

    assert (3, "BROKEN_LINK") in problems
    assert {kind for _, kind in problems} >= {"GAP", "BROKEN_LINK"}


def test_dropping_the_last_record_is_caught_against_the_original_head() -> None:
    records = _chain()
    head = records[-1]

    assert _verify(records[:-1], head) == [(5, "TRUNCATED")]


def test_dropping_every_record_is_caught_against_the_original_head() -> None:
    records = _chain()

    assert _verify([], records[-1]) == [(1, "TRUNCATED")]


def test_a_head_that_does_not_match_the_last_record_is_reported() -> None:
    records = _chain()
    verifier = ChainVerifier()
    verifier.check(records)

    problems = verifier.finish(5, "ab" * 32)

    assert [(p.sequence, p.kind) for p in problems] == [(6, ProblemKind.TRUNCATED)]
