"""The gateway's own Prometheus metrics (defined once, at import, like svc_kit's).

What an operator watches: provider calls by outcome, outbox deliveries and the failures and
parked items that need a person, what the reconciler settled, and merchant webhook
deliveries (attempts by result, their latency, and what is in flight).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
WEBHOOK_ATTEMPTS = Counter(
    "gateway_webhook_attempts_total",
    "Merchant webhook delivery attempts, by result: delivered, retry_scheduled, "
    "dead_lettered, endpoint_gone, or superseded (the claim's lease ran out first and another "
    "worker took the delivery over; its result was not recorded).",
    ["result"],
)
WEBHOOK_FAILURES = Counter(
    "gateway_webhook_failures_total",
    "Merchant webhook attempts that were not delivered, by why: the receiver's status class "
    "(4xx, 5xx, 3xx) or the failure kind (timeout, connect, tls, dns, destination_refused...).",
    ["reason"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "gateway_webhook_attempt_seconds",
    "How long one webhook delivery attempt took: resolving, connecting, sending, the status.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
)
WEBHOOK_IN_FLIGHT = Gauge(
    "gateway_webhook_in_flight",
    "Webhook deliveries this process has claimed and not yet recorded.",
)
