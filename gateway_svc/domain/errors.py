"""The gateway's one error tree. Every refusal the gateway's domain can give is a class here.

    DomainError (svc_kit.faults)
     +-- GatewayError
          +-- ValidationFailed              VALIDATION_FAILED: a request field is wrong
          |    +-- TestCardNotAllowed       a published test card number sent to a live provider
          |    +-- InvalidPageToken         a page token not issued for these filters
          |    +-- WebhookPayloadInvalid    a provider callback's body is not the event it claims
          |    +-- WebhookDestinationRefused  a webhook URL or its address the SSRF guard refuses
          +-- NotFound
          |    +-- PaymentNotFound          also another merchant's payment (no probing by id)
          |    +-- RefundNotFound
          |    +-- QuoteNotFound            also another merchant's quote
          |    +-- ConversionNotFound
          |    +-- BeneficiaryNotFound      also a deleted one
          |    +-- PayoutNotFound
          |    +-- WebhookProviderNotFound  a provider-webhook route for no provider we know
          |    +-- WebhookEndpointNotFound  also a deleted one, or another merchant's
          |    +-- EventNotFound            also another merchant's event
          +-- Conflict
          |    +-- IdempotencyKeyReused     the key came back with a different request
          +-- PreconditionFailed
          |    +-- QuoteExpired             QUOTE_EXPIRED: the quote's rate lock ran out
          |    +-- QuoteAlreadyUsed         a quote locks its rate for one conversion only
          |    +-- InsufficientFunds        the ledger refused to hold the amount (no overdraft)
          |    +-- IllegalTransition        the state of a payment, refund or payout refuses it
          |         +-- PaymentNotCapturable
          |         +-- PaymentAlreadyCaptured
          |         +-- CaptureExceedsAuthorized
          |         +-- PaymentNotCancelable     also: the provider cannot void at all
          |         +-- PartialCaptureUnsupported  the provider captures only in full
          |         +-- PaymentNotRefundable
          |         +-- RefundExceedsCaptured
          |         +-- PaymentOutcomeUnknown   wait for the reconciler before acting
          |         +-- ProviderViewConflict    the provider's truth contradicts a final state
          |         +-- PayoutNotCancelable     already submitted to the bank network, or final
          |    +-- ProviderNotEligible      (routing.py) the preferred provider cannot take it
          |    +-- WebhookEndpointDisabled  a redelivery to a disabled endpoint: enable it first
          +-- IdempotencyKeyInUse           the first request with this key is still running
          +-- ConcurrentModification        a stored version changed under us; safe to retry
          +-- PrincipalMissing              (entrypoints.errors) no edge principal: UNAUTHENTICATED
          +-- LedgerUnavailable             a synchronous hold or balance read could not reach it
          +-- WebhookSignatureInvalid       a provider callback's signature does not verify
          |    +-- WebhookSignatureMissing  no signature header (or PayPal transmission header)
          |    +-- WebhookTimestampOutOfTolerance  signed more than 300 s from now (replay bound)
          +-- NoProviderAvailable           every candidate provider failed or was skipped
               +-- NoRoute                  (routing.py) no rule, or every listed provider skipped
               +-- ProviderUnavailable      the payment's own provider could not capture/cancel
                    +-- WebhookObjectNotYetKnown  a callback ahead of the one naming its object

A card decline is not an error: the provider answered, so the payment is returned normally
with status FAILED and its ``decline``. Only refusals of *our* API are exceptions.

Every error carries metadata for ``google.rpc.ErrorInfo`` (payment_id, status and the amounts
where a payment is involved). The gRPC status of each branch is chosen once, in
``gateway_svc.entrypoints.errors``.
"""

from __future__ import annotations

from svc_kit.faults import DomainError


class GatewayError(DomainError):
    """Base of every gateway refusal."""

    reason = "GATEWAY_ERROR"


class ValidationFailed(GatewayError):
    """Raised when request fields are missing, malformed or out of range (one violation each)."""

    reason = "VALIDATION_FAILED"


class TestCardNotAllowed(ValidationFailed):
    """Raised when a provider's published test card number would go to a live provider."""

    # pytest collects classes named Test*; this one is an error, not a test case.
    __test__ = False
    reason = "TEST_CARD_NOT_ALLOWED"


class NotFound(GatewayError):
    """Base for a named object that does not exist (or belongs to another merchant)."""

    reason = "NOT_FOUND"


class PaymentNotFound(NotFound):
    """Raised when a payment id names no payment of the calling merchant."""

    reason = "PAYMENT_NOT_FOUND"


class RefundNotFound(NotFound):
    """Raised when a refund id names no refund of the calling merchant."""

    reason = "REFUND_NOT_FOUND"


class QuoteNotFound(NotFound):
    """Raised when a quote id names no quote of the calling merchant."""

    reason = "QUOTE_NOT_FOUND"


class ConversionNotFound(NotFound):
    """Raised when a conversion id names no conversion of the calling merchant."""

    reason = "CONVERSION_NOT_FOUND"


class BeneficiaryNotFound(NotFound):
    """Raised when a beneficiary id names no live beneficiary of the calling merchant (a
    deleted one included, so deletion cannot be probed either)."""

    reason = "BENEFICIARY_NOT_FOUND"


class PayoutNotFound(NotFound):
    """Raised when a payout id names no payout of the calling merchant."""

    reason = "PAYOUT_NOT_FOUND"


class Conflict(GatewayError):
    """Base for a request that collides with something already recorded."""

    reason = "CONFLICT"


class IdempotencyKeyReused(Conflict):
    """Raised when an idempotency key is repeated with a request whose fingerprint differs."""

    reason = "IDEMPOTENCY_KEY_REUSED"


class PreconditionFailed(GatewayError):
    """Base for a well-formed request that the current state refuses."""

    reason = "PRECONDITION_FAILED"


class QuoteExpired(PreconditionFailed):
    """Raised when converting on a quote whose rate lock has run out: ask for a new quote."""

    reason = "QUOTE_EXPIRED"


class QuoteAlreadyUsed(PreconditionFailed):
    """Raised when converting on a quote another conversion already used."""

    reason = "QUOTE_ALREADY_USED"


class InsufficientFunds(PreconditionFailed):
    """Raised when the ledger refused to hold a payout's or conversion's amount (its
    LIMIT_EXCEEDED): it exceeds the merchant's available balance in that currency."""

    reason = "INSUFFICIENT_FUNDS"


class IllegalTransition(PreconditionFailed):
    """Raised when a payment or refund cannot move from its state; subclasses say why."""

    reason = "ILLEGAL_TRANSITION"


class PaymentNotCapturable(IllegalTransition):
    """Raised when capturing a payment that is not AUTHORIZED (and was never captured)."""

    reason = "PAYMENT_NOT_CAPTURABLE"


class PaymentAlreadyCaptured(IllegalTransition):
    """Raised when capturing a payment a second time: one capture per authorization."""

    reason = "PAYMENT_ALREADY_CAPTURED"


class CaptureExceedsAuthorized(IllegalTransition):
    """Raised when a capture asks for more than the authorized amount."""

    reason = "CAPTURE_EXCEEDS_AUTHORIZED"


class PaymentNotCancelable(IllegalTransition):
    """Raised when canceling a payment that is captured, canceled or failed."""

    reason = "PAYMENT_NOT_CANCELABLE"


class PartialCaptureUnsupported(IllegalTransition):
    """Raised when a partial capture is asked of a provider that captures only the full
    authorization (Razorpay)."""

    reason = "PARTIAL_CAPTURE_UNSUPPORTED"


class PaymentNotRefundable(IllegalTransition):
    """Raised when refunding a payment that captured nothing."""

    reason = "PAYMENT_NOT_REFUNDABLE"


class RefundExceedsCaptured(IllegalTransition):
    """Raised when pending plus succeeded refunds would exceed the captured amount."""

    reason = "REFUND_EXCEEDS_CAPTURED"


class PaymentOutcomeUnknown(IllegalTransition):
    """Raised when acting on an UNKNOWN payment: the provider may have charged, so nothing
    may happen until the reconciler has asked it."""

    reason = "PAYMENT_OUTCOME_UNKNOWN"


class ProviderViewConflict(IllegalTransition):
    """Raised when a provider's view cannot follow from a payment's or refund's state (for
    example CAPTURED at the provider for a payment we hold as CANCELED). A human looks."""

    reason = "PROVIDER_VIEW_CONFLICT"


class PayoutNotCancelable(IllegalTransition):
    """Raised when canceling a payout the provider has submitted to the bank network, or one
    that is final."""

    reason = "PAYOUT_NOT_CANCELABLE"


class IdempotencyKeyInUse(GatewayError):
    """Raised when a request arrives while the first one with its key is still executing."""

    reason = "IDEMPOTENCY_KEY_IN_USE"


class ConcurrentModification(GatewayError):
    """Raised when a stored payment changed since it was read (version check). Safe to retry."""

    reason = "CONCURRENT_MODIFICATION"


class NoProviderAvailable(GatewayError):
    """Raised when every routing candidate failed retriably, was rejected, or was skipped
    (open breaker, unsupported currency ...). Nothing was charged."""

    reason = "NO_PROVIDER_AVAILABLE"


class ProviderUnavailable(NoProviderAvailable):
    """Raised when the payment's own provider could not do a capture or cancel (unreachable,
    throttling, or it refused the request). Nothing changed; a retry with the same
    request_id runs again."""

    reason = "PROVIDER_UNAVAILABLE"


class InvalidPageToken(ValidationFailed):
    """Raised when a page token was not issued by this service, or was issued for other
    filters."""

    reason = "INVALID_PAGE_TOKEN"


class LedgerUnavailable(GatewayError):
    """Raised when the ledger could not be reached for a synchronous hold or a balance read;
    nothing was sent to the provider, so a retry with the same request_id is safe."""

    reason = "LEDGER_UNAVAILABLE"


class WebhookSignatureInvalid(GatewayError):
    """Raised when a provider callback's signature does not verify over the raw body (wrong
    secret, tampered bytes, a malformed header). Nothing was applied; the message names the
    header, never a secret or the expected signature."""

    reason = "WEBHOOK_SIGNATURE_INVALID"


class WebhookSignatureMissing(WebhookSignatureInvalid):
    """Raised when a provider callback carries no signature header (or, for PayPal, lacks
    one of the transmission headers its verification call needs)."""

    reason = "WEBHOOK_SIGNATURE_MISSING"


class WebhookTimestampOutOfTolerance(WebhookSignatureInvalid):
    """Raised when a signed callback's timestamp is more than the tolerance (300 s) away
    from now, in either direction: a replayed or badly clocked delivery."""

    reason = "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE"


class WebhookPayloadInvalid(ValidationFailed):
    """Raised when a verified provider callback's body is not the event it claims to be (not
    JSON, a field missing or of the wrong type); its violations name the fields."""

    reason = "WEBHOOK_PAYLOAD_INVALID"


class WebhookProviderNotFound(NotFound):
    """Raised when a provider-webhook route names no provider the gateway knows."""

    reason = "WEBHOOK_PROVIDER_NOT_FOUND"


class WebhookDestinationRefused(ValidationFailed):
    """Raised when a merchant webhook URL is not https, carries a user name, or names (or
    resolves to) an address the SSRF guard refuses: loopback, link-local, private and the
    like (``domain.webhooks_ssrf``). One violation, on the URL field."""

    reason = "WEBHOOK_DESTINATION_REFUSED"


class WebhookEndpointNotFound(NotFound):
    """Raised when an endpoint id names no live endpoint of the calling merchant (a deleted
    one, or another merchant's, included)."""

    reason = "WEBHOOK_ENDPOINT_NOT_FOUND"


class EventNotFound(NotFound):
    """Raised when an event id names no event of the calling merchant."""

    reason = "EVENT_NOT_FOUND"


class WebhookEndpointDisabled(PreconditionFailed):
    """Raised when an event is redelivered to a disabled endpoint: enable it first."""

    reason = "WEBHOOK_ENDPOINT_DISABLED"


class WebhookObjectNotYetKnown(ProviderUnavailable):
    """Raised when a provider callback names its object only by an id that another callback,
    still on its way, makes known (a PayPal refund ahead of its capture's). Nothing was
    applied; the callback is kept FAILED and the provider's next delivery applies it."""

    reason = "WEBHOOK_OBJECT_NOT_YET_KNOWN"
