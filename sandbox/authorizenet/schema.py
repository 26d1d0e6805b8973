"""The request schema, element order included, and the E00003 texts its violations produce.

Authorize.net's JSON API is a front for its XML schema (AnetApiSchema.xsd): every object is
an ``xs:sequence``, so keys must come in schema order, and the real gateway refuses a request
whose keys are out of order, unknown, missing or too long with E00003 and the .NET schema
validator's own wording, for example::

    The element 'transactionRequest' in namespace 'AnetApi/xml/v1/schema/AnetApiSchema.xsd'
    has invalid child element 'amount' in namespace '...'. List of possible elements
    expected: 'transactionType' in namespace '...'.

The simulator validates with the same rules so that an adapter emitting keys in the wrong
order fails here exactly as it would against apitest.authorize.net. Only the parts of the
schema an adapter uses are typed in depth (merchantAuthentication, transactionRequest,
creditCard, order, billTo, transactionSettings, userFields, the two reporting requests);
other schema elements are accepted in their place without looking inside. The element order
follows the current XSD (the SDKs' generated contracts), including the elements added after
userFields (surcharge ... authorizationIndicatorType).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final

from sandbox.authorizenet.codes import NAMESPACE


@dataclass(frozen=True, slots=True)
class Slot:
    """One position of an ``xs:sequence``: an element, or the members of an ``xs:choice``."""

    names: tuple[str, ...]
    required: bool = False
    child: Element | None = None
    """The nested sequence, for complex elements the simulator reads."""
    repeated: str = ""
    """For ``ArrayOf...`` wrappers: the item element (``setting``); JSON sends a list or one."""
    max_length: int | None = None
    digits: tuple[int, int] | None = None
    """(min, max) length of a ``numericString`` ([0-9]+)."""
    decimal: bool = False


@dataclass(frozen=True, slots=True)
class Element:
    """An ``xs:sequence`` of slots, with a name index built once."""

    slots: tuple[Slot, ...]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {name: i for i, slot in enumerate(self.slots) for name in slot.names}
        object.__setattr__(self, "index", index)


def _s(
    *names: str,
    required: bool = False,
    child: Element | None = None,
    repeated: str = "",
    max_length: int | None = None,
    digits: tuple[int, int] | None = None,
    decimal: bool = False,
) -> Slot:
    return Slot(tuple(names), required, child, repeated, max_length, digits, decimal)


def _opt(text: str) -> tuple[Slot, ...]:
    """Optional, untyped elements named in one whitespace-separated string."""
    return tuple(Slot((name,)) for name in text.split())


MERCHANT_AUTHENTICATION: Final = Element(
    (
        _s("name", max_length=25),
        _s(
            "transactionKey",
            "sessionToken",
            "password",
            "impersonationAuthentication",
            "fingerPrint",
            "clientKey",
            "accessToken",
            required=True,
        ),
        _s("mobileDeviceId", max_length=60),
    )
)
CREDIT_CARD: Final = Element(
    (
        _s("cardNumber", required=True, max_length=16),
        _s("expirationDate", required=True, max_length=7),
        _s("cardCode", digits=(3, 4)),
        *_opt("isPaymentToken cryptogram tokenRequestorName tokenRequestorId tokenRequestorEci"),
    )
)
OPAQUE_DATA: Final = Element(
    (_s("dataDescriptor", required=True), _s("dataValue", required=True), _s("dataKey"))
)
PAYMENT: Final = Element(
    (
        _s("creditCard", child=CREDIT_CARD),
        _s("opaqueData", child=OPAQUE_DATA),
        *_opt("bankAccount trackData encryptedTrackData payPal emv dataSource"),
    )
)
ORDER: Final = Element(
    (
        _s("invoiceNumber", max_length=20),
        _s("description", max_length=255),
        *_opt(
            "discountAmount taxIsAfterDiscount totalTaxTypeCode purchaserVATRegistrationNumber"
            " merchantVATRegistrationNumber vatInvoiceReferenceNumber purchaserCode"
            " summaryCommodityCode purchaseOrderDateUTC supplierOrderReference"
            " authorizedContactName cardAcceptorRefNumber amexDataTAA1 amexDataTAA2"
            " amexDataTAA3 amexDataTAA4"
        ),
    )
)
BILL_TO: Final = Element(
    (
        _s("firstName", max_length=50),
        _s("lastName", max_length=50),
        _s("company", max_length=50),
        _s("address", max_length=60),
        _s("city", max_length=40),
        _s("state", max_length=40),
        _s("zip", max_length=20),
        _s("country", max_length=60),
        _s("phoneNumber", max_length=25),
        _s("faxNumber", max_length=25),
        _s("email"),
    )
)
SETTING: Final = Element((_s("settingName"), _s("settingValue")))
USER_FIELD: Final = Element((_s("name"), _s("value")))
TRANSACTION_REQUEST: Final = Element(
    (
        _s("transactionType", required=True),
        _s("amount", decimal=True),
        _s("currencyCode"),
        _s("payment", child=PAYMENT),
        *_opt("profile solution callId terminalNumber authCode"),
        _s("refTransId"),
        _s("splitTenderId"),
        _s("order", child=ORDER),
        *_opt("lineItems tax duty shipping taxExempt poNumber customer"),
        _s("billTo", child=BILL_TO),
        *_opt("shipTo customerIP cardholderAuthentication retail employeeId"),
        _s("transactionSettings", child=SETTING, repeated="setting"),
        _s("userFields", child=USER_FIELD, repeated="userField"),
        *_opt(
            "surcharge merchantDescriptor subMerchant tip processingOptions"
            " subsequentAuthInformation otherTax shipFrom authorizationIndicatorType"
        ),
    )
)
_API_REQUEST: Final = (
    _s("merchantAuthentication", required=True, child=MERCHANT_AUTHENTICATION),
    _s("clientId", max_length=30),
    _s("refId", max_length=20),
)
CREATE_TRANSACTION: Final = Element(
    (*_API_REQUEST, _s("transactionRequest", required=True, child=TRANSACTION_REQUEST))
)
TRANSACTION_DETAILS: Final = Element((*_API_REQUEST, _s("transId", required=True, digits=(1, 20))))
SORTING: Final = Element((_s("orderBy", required=True), _s("orderDescending", required=True)))
PAGING: Final = Element(
    (_s("limit", required=True, digits=(1, 4)), _s("offset", required=True, digits=(1, 6)))
)
UNSETTLED_LIST: Final = Element(
    (*_API_REQUEST, _s("status"), _s("sorting", child=SORTING), _s("paging", child=PAGING))
)
AUTHENTICATE_TEST: Final = Element(_API_REQUEST)

ROOTS: Final[dict[str, Element]] = {
    "createTransactionRequest": CREATE_TRANSACTION,
    "getTransactionDetailsRequest": TRANSACTION_DETAILS,
    "getUnsettledTransactionListRequest": UNSETTLED_LIST,
    "authenticateTestRequest": AUTHENTICATE_TEST,
}


class SchemaError(ValueError):
    """A request the XSD refuses; the message is the E00003 text."""


def validate(name: str, value: object, element: Element) -> None:
    """Raise SchemaError (E00003 wording) unless ``value`` fits ``element``'s sequence."""
    if not isinstance(value, Mapping):
        raise SchemaError(f"The element '{name}' in namespace '{NAMESPACE}' has invalid content.")
    slots = element.slots
    position = 0
    for key, child_value in value.items():
        at = element.index.get(key)
        if at is None or at < position or _required_between(slots, position, at):
            raise SchemaError(_invalid_child(name, key, slots, position))
        _check_value(key, child_value, slots[at])
        position = at + 1
    if _required_between(slots, position, len(slots)):
        raise SchemaError(
            f"The element '{name}' in namespace '{NAMESPACE}' has incomplete content."
            f"{_expected(slots, position)}"
        )


def _required_between(slots: tuple[Slot, ...], start: int, stop: int) -> bool:
    return any(slot.required for slot in slots[start:stop])


def _expected(slots: tuple[Slot, ...], position: int) -> str:
    """The validator's " List of possible elements expected: '...'" tail."""
    names: list[str] = []
    for slot in slots[position:]:
        names.extend(slot.names)
        if slot.required:
            break
    if not names:
        return ""
    return f" List of possible elements expected: '{', '.join(names)}' in namespace '{NAMESPACE}'."


def _invalid_child(name: str, key: str, slots: tuple[Slot, ...], position: int) -> str:
    return (
        f"The element '{name}' in namespace '{NAMESPACE}' has invalid child element '{key}'"
        f" in namespace '{NAMESPACE}'.{_expected(slots, position)}"
    )


def _check_value(key: str, value: object, slot: Slot) -> None:
    if slot.child is not None:
        if slot.repeated:
            items = value.get(slot.repeated) if isinstance(value, Mapping) else None
            for item in items if isinstance(items, list) else [items]:
                validate(slot.repeated, item, slot.child)
        else:
            validate(key, value, slot.child)
        return
    if slot.decimal:
        _check_decimal(key, value)
    elif slot.max_length is not None or slot.digits is not None:
        _check_string(key, value, slot)


def _invalid(key: str, value: object, datatype: str, why: str) -> SchemaError:
    return SchemaError(
        f"The '{NAMESPACE}:{key}' element is invalid - The value '{value}' is invalid"
        f" according to its datatype '{datatype}' - {why}"
    )


def _check_decimal(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _invalid(key, value, "Decimal", "The value is not a valid Decimal value.")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _invalid(
            key, value, "Decimal", f"The string '{value}' is not a valid Decimal value."
        ) from None
    if not number.is_finite():
        raise _invalid(key, value, "Decimal", f"The string '{value}' is not a valid Decimal value.")


def _check_string(key: str, value: object, slot: Slot) -> None:
    text = value if isinstance(value, str) else str(value)
    if slot.max_length is not None and len(text) > slot.max_length:
        raise _invalid(
            key, text, "String", "The actual length is greater than the MaxLength value."
        )
    if slot.digits is not None:
        low, high = slot.digits
        if not text.isdigit():
            raise _invalid(key, text, "String", "The Pattern constraint failed.")
        if len(text) < low:
            raise _invalid(
                key, text, "String", "The actual length is less than the MinLength value."
            )
        if len(text) > high:
            raise _invalid(
                key, text, "String", "The actual length is greater than the MaxLength value."
            )
