"""PayPal's Webhooks calls a receiver makes: verify-webhook-signature, and the signing cert.

Routes (under ``/paypal``)::

    POST /v1/notifications/verify-webhook-signature   bearer token (the Orders API's)
    GET  /v1/notifications/certs/{id}                 no credentials, as the real cert URL

verify takes PayPal's request, ``{auth_algo, cert_url, transmission_id, transmission_sig,
transmission_time, webhook_id, webhook_event}``, and answers 200
``{"verification_status": "SUCCESS"|"FAILURE"}`` with the sandbox's verdict
(sandbox.webhooks.paypal.verify); a missing or non-string field is PayPal's 400
``VALIDATION_ERROR``. The certificate is a real self-signed PEM certificate, made once per
process: nothing checks signatures with it (the sandbox's signatures are HMACs), but a
receiver that fetches ``PAYPAL-CERT-URL`` gets the kind of answer PayPal gives.
"""

from __future__ import annotations

import functools
import time

from sandbox.config import SandboxConfig
from sandbox.core import SimRequest, SimResponse
from sandbox.paypal.validate import json_object
from sandbox.paypal.wire import error, not_found, reply
from sandbox.webhooks import paypal as hooks
from svc_kit.pki import generate_ca

VERIFY = ["v1", "notifications", "verify-webhook-signature"]
CERTS = ["v1", "notifications", "certs"]
_TEXT_FIELDS = (
    "auth_algo",
    "cert_url",
    "transmission_id",
    "transmission_sig",
    "transmission_time",
    "webhook_id",
)


def verify(config: SandboxConfig, request: SimRequest) -> SimResponse:
    """``POST /v1/notifications/verify-webhook-signature`` (the token already checked)."""
    body = json_object(request)
    if isinstance(body, SimResponse):
        return body
    texts: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            return _validation_error(name)
        texts[name] = value
    event = body.get("webhook_event")
    if not isinstance(event, dict):
        return _validation_error("webhook_event")
    genuine = hooks.verify(
        config,
        texts["transmission_id"],
        texts["transmission_time"],
        texts["transmission_sig"],
        texts["webhook_id"],
        event,
        time.time(),
    )
    return reply(200, {"verification_status": "SUCCESS" if genuine else "FAILURE"})


def cert(cert_id: str) -> SimResponse:
    """``GET /v1/notifications/certs/{id}``: the PEM certificate, or PayPal's 404."""
    if cert_id != hooks.CERT_ID:
        return not_found("cert_id", cert_id)
    return SimResponse(200, _cert_pem(), {"content-type": "application/x-pem-file"})


@functools.cache
def _cert_pem() -> bytes:
    return generate_ca("paymesh sandbox PayPal webhook signing")[0]


def _validation_error(field: str) -> SimResponse:
    return error(
        "VALIDATION_ERROR",
        "MISSING_REQUIRED_PARAMETER",
        "Required field cannot be blank",
        field=field,
    )
