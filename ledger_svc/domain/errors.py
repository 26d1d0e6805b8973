"""The ledger's one error tree. Every refusal the ledger can give is a class here.

    DomainError (svc_kit.faults)
     +-- LedgerError
          +-- ValidationFailed            VALIDATION_FAILED: a request field is wrong
          |    +-- TransactionUnbalanced  debits differ from credits in a currency
          |    +-- CurrencyMismatch       an entry's currency is not its account's
          |    +-- PostAmountInvalid      a partial post amount is zero, too big, or not allowed
          |    +-- InvalidPageToken       a page token is garbled or from other filters
          +-- NotFound
          |    +-- AccountNotFound
          |    +-- TransactionNotFound
          +-- Conflict
          |    +-- AccountCodeTaken       another account has this code
          |    +-- RequestIdReused        a request_id came back with different content
          +-- PreconditionFailed
          |    +-- AccountClosed          a closed account cannot take new entries
          |    +-- LimitExceeded          an account flag would be broken
          |    +-- TransactionNotPending  post/void of a transaction that is not pending
          |    +-- PendingExpired         post/void after the hold's timeout
          |    +-- TransactionNotReversible   only posted, non-reversal transactions reverse
          |    +-- TransactionAlreadyReversed
          +-- ConcurrentModification      contention outlasted the retries; safe to retry

The gRPC status of each branch is chosen once, in
``ledger_svc.entrypoints.errors``.
"""

from __future__ import annotations

from svc_kit.faults import DomainError


class LedgerError(DomainError):
    """Base of every ledger refusal."""

    reason = "LEDGER_ERROR"


class ValidationFailed(LedgerError):
    """Raised when a request field is missing, malformed or out of range."""

    reason = "VALIDATION_FAILED"


class TransactionUnbalanced(ValidationFailed):
    """Raised when, for some currency, the debits of a transaction differ from its credits."""

    reason = "TRANSACTION_UNBALANCED"


class CurrencyMismatch(ValidationFailed):
    """Raised when an entry's currency is not the currency of the account it writes to."""

    reason = "CURRENCY_MISMATCH"


class PostAmountInvalid(ValidationFailed):
    """Raised when a partial post amount is not in (0, held] or the transaction has >2 entries."""

    reason = "POST_AMOUNT_INVALID"


class InvalidPageToken(ValidationFailed):
    """Raised when a page token cannot be decoded or was issued for other filters."""

    reason = "INVALID_PAGE_TOKEN"


class NotFound(LedgerError):
    """Base for a named object that does not exist."""

    reason = "NOT_FOUND"


class AccountNotFound(NotFound):
    """Raised when an account id or code names no account."""

    reason = "ACCOUNT_NOT_FOUND"


class TransactionNotFound(NotFound):
    """Raised when a transaction id names no transaction."""

    reason = "TRANSACTION_NOT_FOUND"


class Conflict(LedgerError):
    """Base for a request that collides with something already recorded."""

    reason = "CONFLICT"


class AccountCodeTaken(Conflict):
    """Raised when another account already has the requested code."""

    reason = "ACCOUNT_CODE_TAKEN"


class RequestIdReused(Conflict):
    """Raised when a request_id is repeated with different content; metadata names the field."""

    reason = "REQUEST_ID_REUSED"


class PreconditionFailed(LedgerError):
    """Base for a well-formed request that the ledger's current state refuses."""

    reason = "PRECONDITION_FAILED"


class AccountClosed(PreconditionFailed):
    """Raised when a new entry would be written to a closed account."""

    reason = "ACCOUNT_CLOSED"


class LimitExceeded(PreconditionFailed):
    """Raised when a transaction would break an account's debit/credit limit flag."""

    reason = "LIMIT_EXCEEDED"


class TransactionNotPending(PreconditionFailed):
    """Raised when posting or voiding a transaction that is not (or no longer) pending."""

    reason = "TRANSACTION_NOT_PENDING"


class PendingExpired(PreconditionFailed):
    """Raised when posting or voiding a pending transaction whose timeout has passed."""

    reason = "PENDING_EXPIRED"


class TransactionNotReversible(PreconditionFailed):
    """Raised when reversing a transaction that is not posted, or is itself a reversal."""

    reason = "TRANSACTION_NOT_REVERSIBLE"


class TransactionAlreadyReversed(PreconditionFailed):
    """Raised when reversing a transaction a second time."""

    reason = "TRANSACTION_ALREADY_REVERSED"


class ConcurrentModification(LedgerError):
    """Raised when lock contention outlasted every retry. Nothing was written."""

    reason = "CONCURRENT_MODIFICATION"
