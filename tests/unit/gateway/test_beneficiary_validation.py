"""Beneficiaries: the whole request validated at once, masked display, and visibility."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import (
    Beneficiary,
    EntityType,
    NewBeneficiary,
    check_new_beneficiary,
    open_beneficiary,
)
from gateway_svc.domain.fx_provider import PaymentType

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GB_LOCAL = NewBeneficiary(
    merchant_id="mer_1",
    name="Acme supplies",
    bank_account_holder_name="Acme Supplies Ltd",
    bank_country="GB",
    currency="GBP",
    bank_details=BankDetailsInput(
        account_number="31926819", routing_code_type="sort_code", routing_code_value="60-16-13"
    ),
    entity_type="company",
)


def fields(request: NewBeneficiary) -> list[str]:
    with pytest.raises(errors.ValidationFailed) as info:
        check_new_beneficiary(request)
    return [v.field for v in info.value.violations]


def beneficiary() -> Beneficiary:
    return open_beneficiary(GB_LOCAL, "ben_1", T0)


def test_a_good_request_yields_normalized_details_and_payment_types():
    details, payment_types = check_new_beneficiary(GB_LOCAL)
    assert details.routing_codes[0].value == "601613"
    assert payment_types == (PaymentType.REGULAR,)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": ""}, ["beneficiary.name"]),
        ({"name": "   "}, ["beneficiary.name"]),
        ({"name": "x" * 101}, ["beneficiary.name"]),
        ({"bank_account_holder_name": ""}, ["beneficiary.bank_account_holder_name"]),
        ({"bank_account_holder_name": "Acme\nLtd"}, ["beneficiary.bank_account_holder_name"]),
        ({"entity_type": "trust"}, ["beneficiary.entity_type"]),
        ({"entity_type": ""}, []),
        ({"payment_types": ()}, ["beneficiary.payment_types"]),
        ({"payment_types": ("regular", "wire")}, ["beneficiary.payment_types"]),
        ({"payment_types": ("regular", "priority")}, ["beneficiary.iban", "beneficiary.bic_swift"]),
        ({"bank_country": "UK"}, ["beneficiary.bank_country"]),
        ({"currency": "GBX"}, ["beneficiary.currency"]),
        ({"currency": "CHW"}, ["beneficiary.currency"]),
    ],
)
def test_each_bad_field_of_a_beneficiary_is_named(changes, expected):
    request = replace(GB_LOCAL, **changes)
    if expected:
        assert fields(request) == expected
    else:
        check_new_beneficiary(request)


def test_names_and_bank_details_are_reported_together():
    request = replace(
        GB_LOCAL, name="", bank_details=BankDetailsInput(account_number="1234"), entity_type="x"
    )
    assert fields(request) == [
        "beneficiary.name",
        "beneficiary.entity_type",
        "beneficiary.account_number",
        "beneficiary.routing_code_type",
    ]


def test_opening_keeps_the_normalized_request():
    b = beneficiary()
    assert (b.id, b.merchant_id, b.entity_type, b.provider_ref) == (
        "ben_1",
        "mer_1",
        EntityType.COMPANY,
        "",
    )
    assert b.created_at == T0 and not b.is_deleted


def test_the_account_shows_only_its_last_four_digits():
    b = beneficiary()
    assert b.masked_account == "...6819"
    assert "3192" not in repr(b) and "6819" in repr(b)


def test_the_provider_gets_the_full_details_in_its_own_fields():
    b = beneficiary()
    b.bind("cc_ben_1", bank_name="NatWest")
    sent = b.provider_details()
    assert (sent.account_number, sent.routing_code_type_1, sent.routing_code_value_1) == (
        "31926819",
        "sort_code",
        "601613",
    )
    assert sent.beneficiary_entity_type == "company" and sent.routing_code_type_2 == ""
    assert "3192" not in repr(sent)


def test_a_beneficiary_is_bound_to_one_provider_object():
    b = beneficiary()
    b.bind("cc_ben_1")
    b.bind("cc_ben_1")
    with pytest.raises(errors.ProviderViewConflict):
        b.bind("cc_ben_2")


def test_another_merchants_or_a_deleted_beneficiary_looks_missing():
    b = beneficiary()
    b.ensure_visible_to("mer_1")
    with pytest.raises(errors.BeneficiaryNotFound):
        b.ensure_visible_to("mer_2")
    b.delete(T0 + timedelta(days=1))
    assert b.deleted_at == T0 + timedelta(days=1)
    with pytest.raises(errors.BeneficiaryNotFound):
        b.ensure_visible_to("mer_1")
    with pytest.raises(errors.BeneficiaryNotFound):
        b.delete(T0 + timedelta(days=2))


def test_a_beneficiary_supports_the_payment_types_it_was_validated_for():
    b = beneficiary()
    assert b.supports(PaymentType.REGULAR) and not b.supports(PaymentType.PRIORITY)
