"""The gateway's use cases: payments, their keyed phases, the outbox relay, the reconciler.

``payments.PaymentService`` is the entrypoint's one object (commands and answers in
``commands``); ``wiring.build_payments`` assembles it, the relay and the reconciler from
settings. The flows are ``create_flow``, ``mutate_flow`` (capture, cancel) and
``refund_flow``, built from ``keys`` (idempotency phases), ``leases`` (one mutation of a
payment at a time), ``executor`` (provider calls, retries, breakers) and ``effects`` (the
outbox items a change makes).
"""
