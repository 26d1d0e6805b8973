"""A stateful Authorize.net simulator speaking its real JSON API (``POST /xml/v1/request.api``).

What is real, and where it lives:

- wire: one endpoint, a JSON body whose root names the method, BOM-prefixed JSON replies,
  HTTP 200 even for errors (sandbox.authorizenet.replies);
- the XSD's element order and lengths, refused with E00003 and the schema validator's own
  wording (sandbox.authorizenet.schema); credentials refused with E00007 (.sim);
- createTransactionRequest: authOnly, authCapture, priorAuthCapture (partial capture),
  void, refund (partial, repeated, never past what was captured), with Authorize.net's response
  and reason codes (sandbox.authorizenet.transactions, .codes);
- the duplicate-transaction window instead of an idempotency key (sandbox.authorizenet.store);
- getTransactionDetailsRequest and getUnsettledTransactionListRequest (.reports), which a
  client uses to find a transaction whose reply it never got, by invoice number;
- the shared test cards plus Authorize.net's own triggers: ZIP 46282, card code 901, and card
  4222222222222 whose amount picks the reason code (sandbox.authorizenet.outcomes).

Where the sandbox departs from the real gateway, on purpose, and says so:

- no settlement batches: captures stay capturedPendingSettlement and can be refunded at once
  (the real gateway answers 54 until the nightly batch settles them);
- the 3DS test card answers with response code 5 "Need payer consent." and a
  ``secureAcceptance`` URL (the real API's shape for PayPal approval; it has none for cards),
  and the transaction waits in the sandbox-only status ``pendingPayerConsent``;
- Authorize.net reports no per-transaction fee in its API (fees are billed monthly), so the
  simulator reports none either;
- the merchant account processes the currencies Authorize.net supports (USD, CAD, EUR, GBP,
  AUD, NZD, CHF, DKK, NOK, PLN, SEK); a real account processes one.
"""

from __future__ import annotations

from sandbox.authorizenet.sim import AuthorizeNetSim
from sandbox.config import SandboxConfig

__all__ = ["AuthorizeNetSim", "make_sim"]


def make_sim(config: SandboxConfig) -> AuthorizeNetSim:
    """The simulator the sandbox mounts at ``/authorizenet``."""
    return AuthorizeNetSim(config)
