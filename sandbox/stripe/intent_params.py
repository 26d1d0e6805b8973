"""What each PaymentIntent endpoint accepts, and the confirm options several of them share.

Stripe refuses a parameter an endpoint does not take (``parameter_unknown``), so each endpoint
lists its own; the confirm options (``return_url``, ``error_on_requires_action``,
``off_session``) are read the same way by create-with-confirm and by confirm.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.stripe.errors import invalid
from sandbox.stripe.params import Params, get_bool, get_str

CONFIRM_FIELDS = frozenset(
    {
        "payment_method",
        "payment_method_data",
        "return_url",
        "error_on_requires_action",
        "expand",
        "capture_method",
        "off_session",
        "receipt_email",
        "setup_future_usage",
        "payment_method_options",
    }
)
CREATE_FIELDS = CONFIRM_FIELDS | {
    "amount",
    "currency",
    "confirm",
    "confirmation_method",
    "customer",
    "description",
    "metadata",
    "payment_method_types",
    "statement_descriptor",
    "statement_descriptor_suffix",
}
CAPTURE_FIELDS = frozenset(
    {"amount_to_capture", "expand", "metadata", "statement_descriptor_suffix", "final_capture"}
)
CANCEL_FIELDS = frozenset({"cancellation_reason", "expand"})
RETRIEVE_FIELDS = frozenset({"client_secret", "expand"})
_DESCRIPTOR_MAX = 22


@dataclass(frozen=True, slots=True)
class ConfirmOptions:
    """How a confirm treats 3DS: where to send the payer back, or decline instead of asking."""

    return_url: str | None
    error_on_requires_action: bool


def confirm_options(params: Params) -> ConfirmOptions:
    """The confirm options of a create-with-confirm or a confirm."""
    return_url = get_str(params, "return_url")
    if return_url is not None and not return_url.startswith(("https://", "http://")):
        raise invalid("Not a valid URL", param="return_url", code="url_invalid")
    off_session = bool(get_bool(params, "off_session"))
    error_on_action = bool(get_bool(params, "error_on_requires_action")) or off_session
    return ConfirmOptions(return_url, error_on_action)


def descriptor(params: Params, name: str) -> str | None:
    """A statement descriptor, at most 22 characters as Stripe requires."""
    value = get_str(params, name)
    if value is not None and len(value) > _DESCRIPTOR_MAX:
        raise invalid(
            f"The {name} parameter must be at most {_DESCRIPTOR_MAX} characters.", param=name
        )
    return value
