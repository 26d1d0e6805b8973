"""Provider callback bodies for the parsing tests, shaped as the sandbox renders its objects
(sandbox/stripe/render.py, sandbox/razorpay/store.py, sandbox/paypal/model.py,
sandbox/currencycloud/{conversions,payments}.py) and as webhook_wire.md wraps them.

Written out here rather than imported from the sandbox, so the gateway's parser is checked
against the contract, not against the sender's code.
"""

from __future__ import annotations

import json
from typing import Any

Json = dict[str, Any]

CREATED = 1_718_884_800  # 2024-06-20T12:00:00Z
PAYPAL_API = "https://127.0.0.1:8443/paypal"


def dumps(payload: object) -> bytes:
    """Compact UTF-8 JSON, as every provider sends it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def stripe_intent(status: str = "succeeded", **fields: Any) -> Json:
    """A PaymentIntent as sandbox/stripe/render.py's intent_json renders one."""
    intent: Json = {
        "id": "pi_3PaymeshSandbox0001",
        "object": "payment_intent",
        "amount": 10_000,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 10_000,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "manual",
        "client_secret": "pi_3PaymeshSandbox0001_secret_x",
        "created": CREATED - 60,
        "currency": "usd",
        "customer": None,
        "description": "Order 42",
        "last_payment_error": None,
        "latest_charge": "ch_3PaymeshSandbox0001",
        "livemode": False,
        "metadata": {"paymesh_attempt_id": "att_0001", "paymesh_reference": "ref-42"},
        "next_action": None,
        "payment_method": "pm_1PaymeshCard",
        "payment_method_types": ["card"],
        "status": status,
    }
    intent.update(fields)
    return intent


def stripe_refund(status: str | None = "succeeded", **fields: Any) -> Json:
    """A Refund as refund_json renders one."""
    refund: Json = {
        "id": "re_3PaymeshSandbox0001",
        "object": "refund",
        "amount": 2_500,
        "balance_transaction": "txn_3PaymeshSandbox0002",
        "charge": "ch_3PaymeshSandbox0001",
        "created": CREATED,
        "currency": "usd",
        "metadata": {},
        "payment_intent": "pi_3PaymeshSandbox0001",
        "reason": None,
        "status": status,
    }
    refund.update(fields)
    return refund


def stripe_charge(refunds: list[Json] | None = None, **fields: Any) -> Json:
    """A Charge as charge_json renders one (its refunds listed newest first)."""
    charge: Json = {
        "id": "ch_3PaymeshSandbox0001",
        "object": "charge",
        "amount": 10_000,
        "amount_captured": 10_000,
        "amount_refunded": 2_500,
        "balance_transaction": "txn_3PaymeshSandbox0001",
        "captured": True,
        "created": CREATED - 60,
        "currency": "usd",
        "paid": True,
        "payment_intent": "pi_3PaymeshSandbox0001",
        "refunded": False,
        "status": "succeeded",
    }
    if refunds is not None:
        charge["refunds"] = {
            "object": "list",
            "data": refunds,
            "has_more": False,
            "url": "/v1/charges/ch_3PaymeshSandbox0001/refunds",
        }
    charge.update(fields)
    return charge


def stripe_event(kind: str, obj: Json, event_id: str = "evt_1PaymeshSandbox0001") -> bytes:
    """An Event envelope (webhook_wire.md)."""
    return dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": CREATED,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
    )


def anet_event(kind: str, amount: str = "12.34", response_code: int = 1, **payload: Any) -> bytes:
    """An Authorize.net notification; ``amount`` is written as a JSON number, unquoted."""
    body: Json = {
        "notificationId": "d0e8e7fe-c3e7-4add-a480-27bc5ce28a0e",
        "eventType": kind,
        "eventDate": "2024-06-20T12:00:00.123Z",
        "webhookId": "5c3e4f4e-7b0a-4c1f-9d3e-2a6b8f0d1c2e",
        "payload": {
            "responseCode": response_code,
            "authCode": "ABC123",
            "avsResponse": "Y",
            "authAmount": "__AMOUNT__",
            "entityName": "transaction",
            "id": "60012345678",
            "merchantReferenceId": "3f2a9c0d1e4b5a6c7d8e",
            **payload,
        },
    }
    return dumps(body).replace(b'"__AMOUNT__"', amount.encode())


def razorpay_payment(status: str = "captured", **fields: Any) -> Json:
    """A payment entity as sandbox/razorpay/store.py renders one."""
    payment: Json = {
        "id": "pay_AbCdEf0000000001",
        "entity": "payment",
        "amount": 50_000,
        "currency": "INR",
        "status": status,
        "order_id": "order_AbCdEf0000000001",
        "invoice_id": None,
        "international": False,
        "method": "card",
        "amount_refunded": 0,
        "refund_status": None,
        "captured": status in ("captured", "refunded"),
        "description": None,
        "card_id": "card_AbCdEf0000000001",
        "email": "payer@example.com",
        "contact": "+919900000000",
        "notes": {"paymesh_attempt_id": "att_0001"},
        "fee": 1_180 if status == "captured" else None,
        "tax": 180 if status == "captured" else None,
        "error_code": None,
        "error_description": None,
        "error_source": None,
        "error_step": None,
        "error_reason": None,
        "acquirer_data": {"auth_code": None},
        "created_at": CREATED - 60,
    }
    payment.update(fields)
    return payment


def razorpay_refund(status: str = "processed", **fields: Any) -> Json:
    """A refund entity as sandbox/razorpay/store.py renders one."""
    refund: Json = {
        "id": "rfnd_AbCdEf0000000001",
        "entity": "refund",
        "amount": 20_000,
        "currency": "INR",
        "payment_id": "pay_AbCdEf0000000001",
        "notes": [],
        "receipt": None,
        "acquirer_data": {"arn": None},
        "created_at": CREATED,
        "batch_id": None,
        "status": status,
        "speed_processed": "normal",
        "speed_requested": "normal",
    }
    refund.update(fields)
    return refund


def razorpay_event(kind: str, payment: Json, refund: Json | None = None) -> bytes:
    """The ``event`` envelope (webhook_wire.md)."""
    payload: Json = {"payment": {"entity": payment}}
    contains = ["payment"]
    if refund is not None:
        payload = {"refund": {"entity": refund}, **payload}
        contains = ["refund", "payment"]
    return dumps(
        {
            "entity": "event",
            "account_id": "acc_PaymeshSandbox1",
            "event": kind,
            "contains": contains,
            "payload": payload,
            "created_at": CREATED,
        }
    )


def _link(href: str, rel: str, method: str = "GET") -> Json:
    return {"href": href, "rel": rel, "method": method}


def paypal_authorization(status: str = "CREATED", value: str = "100.00", cur: str = "USD") -> Json:
    """An authorization as sandbox/paypal/model.py's render_authorization(related=True)."""
    base = f"{PAYPAL_API}/v2/payments/authorizations/0VF52814937998046"
    return {
        "id": "0VF52814937998046",
        "status": status,
        "amount": {"currency_code": cur, "value": value},
        "custom_id": "att_0001",
        "seller_protection": {"status": "NOT_ELIGIBLE"},
        "expiration_time": "2024-07-19T12:00:00Z",
        "links": [_link(base, "self"), _link(f"{base}/capture", "capture", "POST")],
        "create_time": "2024-06-20T11:59:00Z",
        "update_time": "2024-06-20T12:00:00Z",
        "processor_response": {"avs_code": "Y", "cvv_code": "M", "response_code": "0000"},
        "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
    }


def paypal_capture(status: str = "COMPLETED", value: str = "60.00", cur: str = "USD") -> Json:
    """A capture as render_capture(related=True), taken from an authorization."""
    base = f"{PAYPAL_API}/v2/payments/captures/3C679366HH908993F"
    capture: Json = {
        "id": "3C679366HH908993F",
        "status": status,
        "amount": {"currency_code": cur, "value": value},
        "final_capture": True,
        "disbursement_mode": "INSTANT",
        "seller_protection": {"status": "NOT_ELIGIBLE"},
        "custom_id": "att_0001",
        "links": [_link(base, "self")],
        "create_time": "2024-06-20T12:00:00Z",
        "update_time": "2024-06-20T12:00:00Z",
        "supplementary_data": {
            "related_ids": {
                "order_id": "5O190127TN364715T",
                "authorization_id": "0VF52814937998046",
            }
        },
    }
    if status == "DECLINED":
        capture["processor_response"] = {"avs_code": "Y", "cvv_code": "M", "response_code": "5120"}
    return capture


def paypal_refund(value: str = "10.00", total: str = "25.00", cur: str = "USD") -> Json:
    """A refund as render_refund: no related ids; its ``up`` link names the capture."""
    base = f"{PAYPAL_API}/v2/payments/refunds/1JU08902781691411"
    return {
        "id": "1JU08902781691411",
        "status": "COMPLETED",
        "amount": {"currency_code": cur, "value": value},
        "seller_payable_breakdown": {
            "gross_amount": {"currency_code": cur, "value": value},
            "paypal_fee": {"currency_code": cur, "value": "0.35"},
            "net_amount": {"currency_code": cur, "value": value},
            "total_refunded_amount": {"currency_code": cur, "value": total},
        },
        "links": [
            _link(base, "self"),
            _link(f"{PAYPAL_API}/v2/payments/captures/3C679366HH908993F", "up"),
        ],
        "create_time": "2024-06-20T12:05:00Z",
        "update_time": "2024-06-20T12:05:00Z",
        "custom_id": "att_0001",
    }


def paypal_event(kind: str, resource: Json, event_id: str = "WH-58D329510W468432D") -> bytes:
    """A webhook event; the sandbox sends it in canonical (sorted-key) form."""
    body = {
        "id": event_id,
        "event_version": "1.0",
        "create_time": "2024-06-20T12:00:01Z",
        "resource_type": "capture",
        "resource_version": "2.0",
        "event_type": kind,
        "summary": "A PayPal event",
        "resource": resource,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def cc_conversion(**fields: Any) -> Json:
    """A conversion as GET /v2/conversions/{id} renders it (sandbox conversions._render)."""
    conversion: Json = {
        "id": "c9b6b851-10ec-4ee8-8f6d-a1d6b8f2b1a0",
        "settlement_date": "2024-06-21T13:00:00+00:00",
        "conversion_date": "2024-06-21T00:00:00+00:00",
        "short_reference": "20240620-QHBCNR",
        "currency_pair": "GBPUSD",
        "status": "trade_settled",
        "buy_currency": "GBP",
        "sell_currency": "USD",
        "client_buy_amount": "1000.00",
        "client_sell_amount": "1270.51",
        "fixed_side": "buy",
        "client_rate": "1.2705",
        "unique_request_id": "paymesh-conversion-cnv_0001",
        "created_at": "2024-06-20T11:00:00+00:00",
        "updated_at": "2024-06-21T13:00:00+00:00",
    }
    conversion.update(fields)
    return conversion


def cc_payment(status: str = "completed", **fields: Any) -> Json:
    """A payment (payout) as GET /v2/payments/{id} renders it (sandbox payments._render)."""
    payment: Json = {
        "id": "543477161-91de-012f-e284-1e0030c7f352",
        "amount": "1250.00",
        "beneficiary_id": "a0bd2d78-3621-4c29-932f-a39d6b34d5e7",
        "currency": "EUR",
        "reference": "Invoice 42",
        "reason": "Supplier payment",
        "status": status,
        "payment_type": "regular",
        "failure_reason": "",
        "unique_request_id": "paymesh-payout-po_0001",
        "created_at": "2024-06-20T11:00:00+00:00",
        "updated_at": "2024-06-20T12:30:00+00:00",
        "fee_amount": "1.25",
        "fee_currency": "EUR",
    }
    payment.update(fields)
    return payment


def cc_event(message_type: str, kind: str, obj: Json, notification_id: str = "") -> bytes:
    """A push notification (webhook_wire.md)."""
    header = {
        "message_type": message_type,
        "notification_type": kind,
        "notification_id": notification_id or "6f1c1b36-5d7e-4c5e-9f0e-2b1d3c4a5e6f",
    }
    return dumps({"header": header, "body": obj})
