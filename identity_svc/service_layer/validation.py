"""Request checks made before any state is read. Field names are proto paths.

Each check collects every problem before raising, so a caller can fix a
request in one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from identity_svc.domain.errors import ValidationFailed
from identity_svc.domain.model import MerchantStatus
from identity_svc.domain.permissions import RateLimit, Role
from svc_kit.currencies import is_currency
from svc_kit.faults import FieldViolation

MAX_REQUEST_ID_LEN = 128
MAX_ID_LEN = 64
MAX_METADATA_PAIRS = 32
MAX_METADATA_KEY_LEN = 64
MAX_METADATA_VALUE_LEN = 512
MAX_RATE = 100_000
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
DEFAULT_USAGE_DAYS = 30
MAX_USAGE_SPAN_DAYS = 366
UPDATABLE_MERCHANT_PATHS = frozenset({"display_name", "default_currency", "metadata", "status"})


class Checks:
    """Collects violations; ``done`` raises them together."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        """Record one problem."""
        self.violations.append(FieldViolation(field, description))

    def done(self) -> None:
        """Raise ValidationFailed naming every problem, if there is any."""
        if self.violations:
            fields = ", ".join(sorted({v.field for v in self.violations}))
            raise ValidationFailed(f"invalid request: {fields}", violations=self.violations)

    def text(self, field: str, value: str, *, min_len: int, max_len: int) -> None:
        """``value`` has ``min_len`` to ``max_len`` characters, and is not only blanks."""
        if min_len > 0 and not value.strip():
            self.add(field, "is required")
        elif not min_len <= len(value) <= max_len:
            self.add(field, f"must be {min_len} to {max_len} characters, got {len(value)}")

    def request_id(self, value: str) -> None:
        """An AIP-155 request_id: optional, at most 128 characters."""
        if len(value) > MAX_REQUEST_ID_LEN:
            self.add("request_id", f"must be at most {MAX_REQUEST_ID_LEN} characters")

    def identifier(self, field: str, value: str) -> None:
        """A required resource id."""
        if not value:
            self.add(field, "is required")
        elif len(value) > MAX_ID_LEN:
            self.add(field, f"must be at most {MAX_ID_LEN} characters")

    def currency(self, field: str, code: str) -> None:
        """A current ISO 4217 code."""
        if not is_currency(code):
            self.add(field, f"{code[:8]!r} is not an ISO 4217 currency code")

    def metadata(self, field: str, metadata: Mapping[str, str]) -> None:
        """At most 32 pairs, keys 1 to 64 and values up to 512 characters."""
        if len(metadata) > MAX_METADATA_PAIRS:
            self.add(field, f"must have at most {MAX_METADATA_PAIRS} pairs")
        for key, value in metadata.items():
            if not 1 <= len(key) <= MAX_METADATA_KEY_LEN:
                self.add(field, f"keys must be 1 to {MAX_METADATA_KEY_LEN} characters")
            if len(value) > MAX_METADATA_VALUE_LEN:
                self.add(field, f"values must be at most {MAX_METADATA_VALUE_LEN} characters")

    def rate_limit(self, field: str, limit: RateLimit) -> None:
        """Both numbers whole, 1 to 100000."""
        for name, value in (("requests_per_second", limit.requests_per_second),
                            ("burst", limit.burst)):  # fmt: skip
            if not (float(value).is_integer() and 1 <= value <= MAX_RATE):
                self.add(f"{field}.{name}", f"must be a whole number from 1 to {MAX_RATE}")


def check_merchant(
    checks: Checks,
    *,
    display_name: str | None,
    default_currency: str | None,
    metadata: Mapping[str, str] | None,
) -> None:
    """The merchant fields given (None: not being set)."""
    if display_name is not None:
        checks.text("merchant.display_name", display_name, min_len=1, max_len=200)
    if default_currency is not None:
        checks.currency("merchant.default_currency", default_currency)
    if metadata is not None:
        checks.metadata("merchant.metadata", metadata)


def check_update_mask(
    checks: Checks, paths: Sequence[str], status: MerchantStatus | None
) -> frozenset[str]:
    """The paths to update: known, mutable, at least one."""
    if not paths:
        checks.add("update_mask", "must name at least one field to update")
    for path in paths:
        if path not in UPDATABLE_MERCHANT_PATHS:
            allowed = ", ".join(sorted(UPDATABLE_MERCHANT_PATHS))
            checks.add("update_mask", f"{path[:64]!r} cannot be updated (allowed: {allowed})")
    if "status" in paths and status is None:
        checks.add("merchant.status", "must be ACTIVE or SUSPENDED")
    return frozenset(paths)


def check_new_key(
    checks: Checks,
    *,
    display_name: str,
    description: str,
    role: Role | None,
    expire_time: datetime | None,
    rate_limit: RateLimit | None,
    now: datetime,
) -> None:
    """The fields of CreateApiKey's ``api_key``."""
    checks.text("api_key.display_name", display_name, min_len=1, max_len=100)
    checks.text("api_key.description", description, min_len=0, max_len=500)
    if role is None:
        checks.add("api_key.role", "is required")
    if expire_time is not None:
        if expire_time.tzinfo is None:
            checks.add("api_key.expire_time", "must carry a time zone")
        elif expire_time <= now:
            checks.add("api_key.expire_time", "must be in the future")
    if rate_limit is not None:
        checks.rate_limit("api_key.rate_limit", rate_limit)


def check_overlap(checks: Checks, overlap: timedelta | None) -> None:
    """How long a rotated-out secret keeps working: default 24 h, 0 to 30 days."""
    if overlap is not None and not timedelta(0) <= overlap <= MAX_OVERLAP:
        checks.add("overlap", "must be from 0 to 30 days")


def check_days(
    checks: Checks, start_day: date | None, end_day: date | None, today: date
) -> tuple[date, date]:
    """The usage window: end defaults to today, start to 30 days before end."""
    end = end_day or today
    start = start_day or end - timedelta(days=DEFAULT_USAGE_DAYS)
    if end < start:
        checks.add("end_day", "must not be before start_day")
    elif (end - start).days > MAX_USAGE_SPAN_DAYS:
        checks.add("end_day", f"must be at most {MAX_USAGE_SPAN_DAYS} days after start_day")
    return start, end
