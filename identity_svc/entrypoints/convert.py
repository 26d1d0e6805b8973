"""Proto <-> domain conversion. Protobuf types stop here; the layers below never see them.

Conversion refuses what the proto allows but the domain cannot mean (an
UNSPECIFIED role, a malformed day); everything else is the domain's to judge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from identity_svc.domain.audit import AuditRecord, Problem
from identity_svc.domain.errors import ValidationFailed
from identity_svc.domain.keys import secret_prefix
from identity_svc.domain.model import ApiKey, KeyState, Merchant, MerchantStatus, Principal
from identity_svc.domain.permissions import RateLimit, Role
from identity_svc.service_layer.identity import UsageReport
from paymesh.identity.v1 import identity_pb2 as pb
from svc_kit.faults import FieldViolation

ROLES = {
    pb.ROLE_ADMIN: Role.ADMIN,
    pb.ROLE_OWNER: Role.OWNER,
    pb.ROLE_DEVELOPER: Role.DEVELOPER,
    pb.ROLE_FINANCE: Role.FINANCE,
    pb.ROLE_VIEWER: Role.VIEWER,
}
_ROLES_OUT = {v: k for k, v in ROLES.items()}
MERCHANT_STATUSES = {
    pb.MERCHANT_STATUS_ACTIVE: MerchantStatus.ACTIVE,
    pb.MERCHANT_STATUS_SUSPENDED: MerchantStatus.SUSPENDED,
}
_MERCHANT_STATUSES_OUT = {v: k for k, v in MERCHANT_STATUSES.items()}
_KEY_STATES_OUT = {
    KeyState.ACTIVE: pb.API_KEY_STATE_ACTIVE,
    KeyState.EXPIRED: pb.API_KEY_STATE_EXPIRED,
    KeyState.REVOKED: pb.API_KEY_STATE_REVOKED,
}
_OUTCOMES_OUT = {"success": pb.AUDIT_OUTCOME_SUCCESS, "failure": pb.AUDIT_OUTCOME_FAILURE}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def invalid(path: str, why: str) -> ValidationFailed:
    """A ValidationFailed naming one request field."""
    return ValidationFailed(f"{path} {why}", violations=[FieldViolation(path, why)])


def ts(value: datetime | None) -> Timestamp | None:
    """A Timestamp, or None so that the field stays unset."""
    if value is None:
        return None
    # What Timestamp.FromDatetime computes (whole seconds floored, then nanos), without its
    # utctimetuple and calendar.timegm, which cost four times this: one per audit event
    # answered. Every datetime is within Timestamp's range (years 1 to 9999).
    since = value.astimezone(UTC) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def time_in(field: Timestamp, present: bool) -> datetime | None:
    """A set Timestamp field as an aware UTC datetime; None when unset."""
    return field.ToDatetime(tzinfo=UTC) if present else None


def duration_in(field: Duration, present: bool) -> timedelta | None:
    """A set Duration field as a timedelta; None when unset (the use case's default)."""
    return field.ToTimedelta() if present else None


def day_in(path: str, value: str) -> date | None:
    """A "YYYY-MM-DD" field; None when empty."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid(path, "must be a day written YYYY-MM-DD") from None


def merchant_status_in(value: pb.MerchantStatus.ValueType) -> MerchantStatus | None:
    """The domain status; None for UNSPECIFIED (let the use case apply its default)."""
    return MERCHANT_STATUSES.get(value)


def rate_limit_in(msg: pb.ApiKey) -> RateLimit | None:
    """The key's rate-limit override, if the request set one."""
    if not msg.HasField("rate_limit"):
        return None
    return RateLimit(msg.rate_limit.requests_per_second, msg.rate_limit.burst)


def merchant(m: Merchant) -> pb.Merchant:
    """A merchant as the API shows it."""
    return pb.Merchant(
        merchant_id=m.merchant_id,
        display_name=m.display_name,
        status=_MERCHANT_STATUSES_OUT[m.status],
        default_currency=m.default_currency,
        metadata=dict(m.metadata),
        create_time=ts(m.create_time),
        update_time=ts(m.update_time),
    )


def api_key(k: ApiKey, now: datetime) -> pb.ApiKey:
    """A key as the API shows it: never its secret."""
    limit = k.rate_limit
    return pb.ApiKey(
        key_id=k.key_id,
        merchant_id=k.merchant_id,
        display_name=k.display_name,
        description=k.description,
        role=_ROLES_OUT[k.role],
        expire_time=ts(k.expire_time),
        rate_limit=(
            pb.RateLimit(requests_per_second=int(limit.requests_per_second), burst=limit.burst)
            if limit
            else None
        ),
        environment=k.environment,
        secret_prefix=secret_prefix(k.environment, k.key_id),
        state=_KEY_STATES_OUT[k.state(now)],
        create_time=ts(k.create_time),
        last_used_time=ts(k.last_used_time),
        revoke_time=ts(k.revoke_time),
        previous_secret_expire_time=ts(
            k.previous_secret_expire_time
            if k.previous_secret_expire_time and k.previous_secret_expire_time > now
            else None
        ),
    )


def principal(p: Principal) -> pb.Principal:
    """The caller, for WhoAmI."""
    return pb.Principal(
        merchant_id=p.merchant_id,
        key_id=p.key_id,
        role=_ROLES_OUT[p.role],
        permissions=sorted(perm.value for perm in p.permissions),
        environment=p.environment,
    )


def audit_event(r: AuditRecord) -> pb.AuditEvent:
    """One audit record as the API shows it."""
    e = r.entry
    return pb.AuditEvent(
        sequence=r.sequence,
        event_id=e.event_id,
        event_time=ts(e.event_time),
        actor=pb.Actor(kind=e.actor.kind.value, id=e.actor.id, merchant_id=e.actor.merchant_id),
        action=e.action,
        target=e.target,
        merchant_id=e.merchant_id,
        outcome=_OUTCOMES_OUT[e.outcome.value],
        reason=e.reason,
        request_id=e.request_id,
        source_address=e.source_address,
        details=dict(e.details),
        hash=r.hash,
    )


def audit_problem(p: Problem) -> pb.AuditLogProblem:
    """One verification finding."""
    return pb.AuditLogProblem(sequence=p.sequence, kind=p.kind.value, description=p.description)


def usage_report(report: UsageReport) -> pb.GetUsageResponse:
    """GetUsage's answer."""
    return pb.GetUsageResponse(
        records=[
            pb.UsageRecord(
                key_id=r.key_id,
                rpc=r.rpc,
                day=r.day.isoformat(),
                allowed_count=r.allowed_count,
                throttled_count=r.throttled_count,
            )
            for r in report.records
        ],
        total_allowed=report.total_allowed,
        total_throttled=report.total_throttled,
    )
