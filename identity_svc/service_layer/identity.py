"""``Identity``: every identity use case, behind one object the servicer calls.

Protobuf types never enter here. Every use case takes a ``CallContext``;
mutations append their audit record in their own transaction (``auditing``).
The use cases live in one module per resource and are joined here.
"""

from __future__ import annotations

from .audit_append import AuditAppendCases, NewEvent, Workload
from .bootstrap import PLATFORM_MERCHANT_ID, BootstrapCases
from .context import CallContext
from .merchants import MerchantCases
from .reports import ReportCases, UsageRecord, UsageReport


class Identity(MerchantCases, BootstrapCases, ReportCases, AuditAppendCases):
    """Application service of identity.

    ``Identity(engine, pepper=..., environment="test", clock=...)``: the
    engine comes from ``svc_kit.db.make_engine``, with identity's schema
    migrated (``identity_svc.adapters.migrate``); the pepper is the HMAC key of
    stored token hashes (at least 16 bytes, from outside the database).
    """


__all__ = [
    "PLATFORM_MERCHANT_ID",
    "CallContext",
    "Identity",
    "NewEvent",
    "UsageRecord",
    "UsageReport",
    "Workload",
]
