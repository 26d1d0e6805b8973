"""Provider callback signatures: genuine ones pass, everything else is refused (no I/O).

Signatures are computed here with ``hmac`` directly, from webhook_wire.md's description, so
the verifiers are checked against the contract rather than against themselves.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from gateway_svc.domain.errors import (
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampOutOfTolerance,
)
from gateway_svc.domain.provider_signatures import (
    PAYPAL_HEADERS,
    VERIFIERS,
    Verifier,
    paypal_transmission,
    verify_authorizenet,
    verify_currencycloud,
    verify_razorpay,
    verify_stripe,
)
from gateway_svc.domain.provider_webhooks import WebhookProvider
from gateway_svc.entrypoints.errors import MAPPER

NOW = datetime(2024, 6, 20, 12, 0, 0, tzinfo=UTC)
T = int(NOW.timestamp())
BODY = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{}}}'
STRIPE_SECRET = "whsec_paymesh_sandbox_stripe_5d1f0c7a9b"
CC_SECRET = "cc_whsec_paymesh_sandbox"
ANET_KEY = "7A3F" * 32
RAZORPAY_SECRET = "rzp_whsec_paymesh_sandbox"


def t_v1(secret: str, body: bytes, t: int = T) -> str:
    """Stripe's construction: hex HMAC-SHA256 over "<t>." + body."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def anet_sig(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest().upper()


def razorpay_sig(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# (verifier, secret, header name, genuine header value for BODY) for every HMAC scheme.
SCHEMES = {
    "stripe": (
        verify_stripe,
        STRIPE_SECRET,
        "stripe-signature",
        f"t={T},v1={t_v1(STRIPE_SECRET, BODY)}",
    ),
    "currencycloud": (
        verify_currencycloud,
        CC_SECRET,
        "x-cc-signature",
        f"t={T},v1={t_v1(CC_SECRET, BODY)}",
    ),
    "authorizenet": (
        verify_authorizenet,
        ANET_KEY,
        "x-anet-signature",
        f"sha512={anet_sig(ANET_KEY, BODY)}",
    ),
    "razorpay": (
        verify_razorpay,
        RAZORPAY_SECRET,
        "x-razorpay-signature",
        razorpay_sig(RAZORPAY_SECRET, BODY),
    ),
}
TIMESTAMPED = ("stripe", "currencycloud")


def accepted(verify: Any, secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether ``verify`` accepts the callback: the verifiers return nothing and raise
    WebhookSignatureInvalid (or a subclass) when they refuse."""
    try:
        verify(secret, headers, body, NOW)
    except WebhookSignatureInvalid:
        return False
    return True


def scheme(name: str) -> tuple[Verifier, str, str, str]:
    return SCHEMES[name]


def flip_last_hex(value: str) -> str:
    """The same signature with its last hex digit changed (same length, same alphabet)."""
    last = value[-1]
    return value[:-1] + ("0" if last != "0" else "1")


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_genuine_signature_is_accepted(name: str) -> None:
    verify, secret, header, value = scheme(name)

    assert accepted(verify, secret, {header: value}, BODY)
    assert not accepted(verify, secret, {header: value}, BODY + b" ")  # and only that body


def test_every_hmac_provider_has_a_verifier_and_paypal_has_none() -> None:
    assert set(VERIFIERS) == {WebhookProvider(n) for n in SCHEMES}
    assert WebhookProvider.PAYPAL not in VERIFIERS


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_tampered_body_is_refused(name: str) -> None:
    verify, secret, header, value = scheme(name)
    tampered = BODY.replace(b"evt_1", b"evt_2")

    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(secret, {header: value}, tampered, NOW)

    assert type(caught.value) is WebhookSignatureInvalid
    assert caught.value.reason == "WEBHOOK_SIGNATURE_INVALID"
    assert caught.value.metadata == {"provider": name, "header": header}


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_signature_made_with_another_secret_is_refused(name: str) -> None:
    verify, secret, header, _ = scheme(name)
    other = secret[:-1] + ("x" if secret[-1] != "x" else "y")
    forged = {
        "stripe": f"t={T},v1={t_v1(other, BODY)}",
        "currencycloud": f"t={T},v1={t_v1(other, BODY)}",
        "authorizenet": f"sha512={anet_sig(other, BODY)}",
        "razorpay": razorpay_sig(other, BODY),
    }[name]

    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(secret, {header: forged}, BODY, NOW)

    # The refusal names the header, never the secret or the signature expected.
    assert secret not in caught.value.message and other not in caught.value.message
    assert header in caught.value.message


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("headers", [{}, {"content-type": "application/json"}])
def test_a_missing_signature_header_is_refused_as_missing(
    name: str, headers: dict[str, str]
) -> None:
    verify, secret, header, _ = scheme(name)

    with pytest.raises(WebhookSignatureMissing) as caught:
        verify(secret, headers, BODY, NOW)

    assert caught.value.reason == "WEBHOOK_SIGNATURE_MISSING"
    assert caught.value.metadata["header"] == header


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_an_empty_signature_header_is_refused_as_missing(name: str) -> None:
    verify, secret, header, _ = scheme(name)

    with pytest.raises(WebhookSignatureMissing):
        verify(secret, {header: "  "}, BODY, NOW)


@pytest.mark.parametrize("name", TIMESTAMPED)
@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "v1=abc",  # no t=
        f"t={T}",  # no v1=
        f"t=soon,v1={'0' * 64}",  # t not a unix time
        f"t=-{T},v1={'0' * 64}",
        f"t={T},,v1={'0' * 64}",  # an empty entry
        f"t={T},v0={'0' * 64}",  # another scheme only
    ],
)
def test_a_malformed_timestamped_header_is_refused(name: str, value: str) -> None:
    verify, secret, header, _ = scheme(name)

    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(secret, {header: value}, BODY, NOW)

    assert type(caught.value) is WebhookSignatureInvalid


@pytest.mark.parametrize(
    "value",
    [
        "sha256=" + anet_sig(ANET_KEY, BODY),  # another algorithm's label
        anet_sig(ANET_KEY, BODY),  # no label at all
        "sha512=" + anet_sig(ANET_KEY, BODY)[:-2],  # truncated
        "sha512=",
    ],
)
def test_a_malformed_authorizenet_header_is_refused(value: str) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        verify_authorizenet(ANET_KEY, {"x-anet-signature": value}, BODY, NOW)


def test_authorizenet_compares_hex_without_regard_to_case() -> None:
    lower = "SHA512=" + anet_sig(ANET_KEY, BODY).lower()

    assert accepted(verify_authorizenet, ANET_KEY, {"x-anet-signature": lower}, BODY)
    assert not accepted(verify_authorizenet, ANET_KEY, {"x-anet-signature": lower}, BODY + b" ")


def test_a_razorpay_signature_of_other_length_is_refused() -> None:
    sig = razorpay_sig(RAZORPAY_SECRET, BODY)

    for value in (sig[:-1], sig + "0", sig * 2):
        with pytest.raises(WebhookSignatureInvalid):
            verify_razorpay(RAZORPAY_SECRET, {"x-razorpay-signature": value}, BODY, NOW)


@pytest.mark.parametrize("name", TIMESTAMPED)
@pytest.mark.parametrize("skew_s", [-301, 301, -3600, 10 * 365 * 86400])
def test_a_signed_time_more_than_300_s_away_is_refused(name: str, skew_s: int) -> None:
    verify, secret, header, _ = scheme(name)
    t = T - skew_s  # positive skew: signed in the past (a replay); negative: in the future
    value = f"t={t},v1={t_v1(secret, BODY, t)}"

    with pytest.raises(WebhookTimestampOutOfTolerance) as caught:
        verify(secret, {header: value}, BODY, NOW)

    assert caught.value.reason == "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE"
    assert ("past" if skew_s > 0 else "future") in caught.value.message


@pytest.mark.parametrize("name", TIMESTAMPED)
@pytest.mark.parametrize("skew_s", [-300, -1, 0, 1, 300])
def test_a_signed_time_within_300_s_is_accepted(name: str, skew_s: int) -> None:
    verify, secret, header, _ = scheme(name)
    t = T - skew_s

    assert accepted(verify, secret, {header: f"t={t},v1={t_v1(secret, BODY, t)}"}, BODY)


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_a_stale_time_with_a_forged_signature_is_refused_as_a_bad_signature(name: str) -> None:
    # The signature is checked first: only a genuine one learns its time is off.
    verify, secret, header, _ = scheme(name)
    t = T - 3600

    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(secret, {header: f"t={t},v1={'ab' * 32}"}, BODY, NOW)

    assert type(caught.value) is WebhookSignatureInvalid


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_the_signed_time_cannot_be_moved_without_breaking_the_signature(name: str) -> None:
    verify, secret, header, _ = scheme(name)
    stale = T - 3600
    value = f"t={T},v1={t_v1(secret, BODY, stale)}"  # a stale signature under a fresh t

    with pytest.raises(WebhookSignatureInvalid) as caught:
        verify(secret, {header: value}, BODY, NOW)

    assert type(caught.value) is WebhookSignatureInvalid


@pytest.mark.parametrize("name", TIMESTAMPED)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_one_valid_v1_among_several_is_enough(name: str, position: int) -> None:
    # Stripe sends two v1 signatures while an endpoint secret is being rolled.
    verify, secret, header, _ = scheme(name)
    entries = [f"v1={t_v1('whsec_old_secret', BODY)}", f"v1={'0' * 64}"]
    entries.insert(position, f"v1={t_v1(secret, BODY)}")
    value = ",".join([f"t={T}", *entries, "v0=ignored"])

    assert accepted(verify, secret, {header: value}, BODY)
    assert not accepted(verify, secret, {header: value.replace(t_v1(secret, BODY), "0" * 64)}, BODY)


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_several_v1_of_which_none_is_valid_are_refused(name: str) -> None:
    verify, secret, header, _ = scheme(name)
    value = f"t={T},v1={t_v1('whsec_a', BODY)},v1={t_v1('whsec_b', BODY)}"

    with pytest.raises(WebhookSignatureInvalid):
        verify(secret, {header: value}, BODY, NOW)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_signature_wrong_in_any_single_position_is_refused(name: str) -> None:
    # A whole-MAC compare: one changed digit anywhere (first, middle, last) is a refusal,
    # as with the sandbox's bad_signature mode (one bit of the last byte flipped).
    verify, secret, header, value = scheme(name)
    prefix, _, sig = value.rpartition("=") if "=" in value else ("", "", value)
    joiner = "=" if prefix else ""
    for index in (0, len(sig) // 2, len(sig) - 1):
        digit = sig[index]
        changed = sig[:index] + ("1" if digit != "1" else "2") + sig[index + 1 :]

        with pytest.raises(WebhookSignatureInvalid):
            verify(secret, {header: prefix + joiner + changed}, BODY, NOW)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_non_ascii_signature_is_refused_not_crashed_on(name: str) -> None:
    # hmac.compare_digest raises TypeError for non-ASCII str: the verifiers compare bytes, so
    # hostile header bytes become an ordinary refusal.
    verify, secret, header, value = scheme(name)
    hostile = value[:-1] + "é"

    with pytest.raises(WebhookSignatureInvalid):
        verify(secret, {header: hostile}, BODY, NOW)


def test_an_empty_body_is_verified_like_any_other_bytes() -> None:
    value = f"t={T},v1={t_v1(STRIPE_SECRET, b'')}"

    verify_stripe(STRIPE_SECRET, {"stripe-signature": value}, b"", NOW)
    with pytest.raises(WebhookSignatureInvalid):
        verify_stripe(STRIPE_SECRET, {"stripe-signature": value}, b" ", NOW)


def test_the_paypal_transmission_is_read_from_its_five_headers() -> None:
    headers = {
        "paypal-transmission-id": "b0d9c3a6-1c83-4d5e-9e0e-4f0c3b7a1d22",
        "paypal-transmission-time": "2024-06-20T12:00:00Z",
        "paypal-transmission-sig": "c2lnbmF0dXJl",
        "paypal-cert-url": "https://127.0.0.1:1/paypal/v1/notifications/certs/CERT-1",
        "paypal-auth-algo": "SHA256withRSA",
    }

    transmission = paypal_transmission(headers)

    assert transmission.transmission_id == headers["paypal-transmission-id"]
    assert transmission.transmission_time == "2024-06-20T12:00:00Z"
    assert transmission.transmission_sig == "c2lnbmF0dXJl"
    assert transmission.cert_url.endswith("/certs/CERT-1")
    assert transmission.auth_algo == "SHA256withRSA"


@pytest.mark.parametrize("missing", PAYPAL_HEADERS)
def test_a_paypal_callback_without_a_transmission_header_is_refused(missing: str) -> None:
    headers = dict.fromkeys(PAYPAL_HEADERS, "x")
    del headers[missing]

    with pytest.raises(WebhookSignatureMissing) as caught:
        paypal_transmission(headers)

    assert caught.value.metadata == {"provider": "paypal", "header": missing}


def test_the_clock_tolerance_is_measured_from_the_given_now() -> None:
    later = NOW + timedelta(seconds=301)
    value = f"t={T},v1={t_v1(STRIPE_SECRET, BODY)}"

    verify_stripe(STRIPE_SECRET, {"stripe-signature": value}, BODY, NOW)
    with pytest.raises(WebhookTimestampOutOfTolerance):
        verify_stripe(STRIPE_SECRET, {"stripe-signature": value}, BODY, later)


@pytest.mark.parametrize(
    "error",
    [
        WebhookSignatureInvalid("x"),
        WebhookSignatureMissing("x"),
        WebhookTimestampOutOfTolerance("x"),
    ],
)
def test_every_signature_refusal_maps_to_unauthenticated(error: WebhookSignatureInvalid) -> None:
    assert MAPPER.code_for(error) is grpc.StatusCode.UNAUTHENTICATED
