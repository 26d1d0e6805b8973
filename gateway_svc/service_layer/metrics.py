"""The gateway's own Prometheus metrics (defined once, at import, like svc_kit's).

What an operator watches: provider calls by outcome, outbox deliveries and the failures and
parked items that need a person, and what the reconciler settled.
"""

from __future__ import annotations

from prometheus_client import Counter

PROVIDER_CALLS = Counter(
    "gateway_provider_calls_total",
    "Calls to payment providers, by provider, operation and outcome (ok or the error kind).",
    ["provider", "operation", "outcome"],
)
OUTBOX_DELIVERED = Counter(
    "gateway_outbox_delivered_total",
    "Outbox items applied (ledger postings, audit records), by kind.",
    ["kind"],
)
OUTBOX_FAILURES = Counter(
    "gateway_outbox_failures_total",
    "Outbox deliveries that failed, by kind and reason (the upstream's ErrorInfo reason).",
    ["kind", "reason"],
)
OUTBOX_PARKED = Counter(
    "gateway_outbox_parked_total",
    "Outbox items given up on (refused, or failed too often); each needs an operator.",
    ["kind", "reason"],
)
RECONCILED = Counter(
    "gateway_reconciled_total",
    "What the reconciler settled, by object (payment, refund, key) and result.",
    ["object", "result"],
)
