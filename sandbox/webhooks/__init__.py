"""Signed provider callbacks: the sandbox POSTs them to the gateway as each provider would.

Each simulator owns an ``EventSink`` (its ``webhooks`` attribute) and emits an event where its
state changes (a capture, a refund, a void, a payout's outcome, a conversion's settlement);
the server connects every sink to one ``WebhookSender``, which signs each event with its
provider's scheme and POSTs it to ``<webhook_target>/v1/provider-webhooks/<provider>`` from a
background task, retrying on non-2xx. sandbox/README.md documents the wire contract (shared
with the gateway's receiver, which implements it independently) and the control calls that
steer sending (``/_control/webhooks``: target, trust, modes, flush).

Modules: ``events`` (Event, EventSink), ``wire`` (JSON forms, ids, HMAC, Signing), one per
provider with its event builder and signer (``stripe``, ``authorizenet``, ``razorpay``,
``paypal``, which also answers verify-webhook-signature, and ``currencycloud``, whose scheme
the sandbox defines), ``providers`` (signers by name), ``settings`` (runtime settings and
their checks), ``records`` (what was sent) and ``sender`` (queues, retries, HTTP).
"""
