"""The idempotency key from ``request_id`` or the Idempotency-Key header (gRPC metadata
``idempotency-key`` once Envoy's transcoder has forwarded it)."""

from __future__ import annotations

import pytest

from gateway_svc.domain.errors import ValidationFailed
from gateway_svc.entrypoints.metadata import IDEMPOTENCY_KEY, header_keys, request_id

OTHER = ("x-request-id", "r-1")


@pytest.mark.parametrize(
    ("field", "metadata", "key"),
    [
        ("k-field", (), "k-field"),
        ("", ((IDEMPOTENCY_KEY, "k-header"), OTHER), "k-header"),
        ("k-same", ((IDEMPOTENCY_KEY, "k-same"),), "k-same"),
        ("", (OTHER,), ""),  # none: the use case decides whether one is required
        ("", ((IDEMPOTENCY_KEY, "k"), (IDEMPOTENCY_KEY, "k")), "k"),  # a repeat of one key
    ],
)
def test_the_key_is_the_field_else_the_header(
    field: str, metadata: tuple[tuple[str, str], ...], key: str
) -> None:
    assert request_id(field, metadata) == key


@pytest.mark.parametrize(
    ("field", "metadata"),
    [
        ("k-field", ((IDEMPOTENCY_KEY, "k-header"),)),
        ("", ((IDEMPOTENCY_KEY, "k-1"), (IDEMPOTENCY_KEY, "k-2"))),
    ],
)
def test_two_different_keys_for_one_request_are_a_violation_on_request_id(
    field: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        request_id(field, metadata)

    assert [v.field for v in refused.value.violations] == ["request_id"]


def test_binary_values_are_read_as_text_and_other_keys_are_ignored() -> None:
    metadata = ((IDEMPOTENCY_KEY, b"k-bytes"), ("idempotency-key-bin", b"\x00"), OTHER)

    assert header_keys(metadata) == ["k-bytes"]
