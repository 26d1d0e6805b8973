"""Beneficiaries: validate, create, get, find, delete.

Routes (Currencycloud's)::

    POST /v2/beneficiaries/validate      checks the details; answers the would-be record
    POST /v2/beneficiaries/create        400 beneficiary_create_failed, or the record
    GET  /v2/beneficiaries/find          filters: beneficiary_external_reference, currency, name
    GET  /v2/beneficiaries/{id}          404 beneficiary_not_found when unknown or deleted
    POST /v2/beneficiaries/{id}/delete   answers the record as it was; it is gone afterwards

Validation errors name every bad field at once, with the codes Currencycloud uses:
``<field>_is_required`` for the four required fields (``name``, ``bank_account_holder_name``,
``bank_country``, ``currency``), ``bank_country_is_in_invalid_format``, and the bank-detail
rules of ``sandbox.currencycloud.bank_rules``. ``validate`` answers them as 400
``beneficiary_not_valid`` (recorded from Currencycloud) and ``create`` as 400
``beneficiary_create_failed``. The record's JSON follows the recorded ``create`` reply
(``payment_types``, address lists, nulls for what was not given, ``default_beneficiary`` as
the string ``"false"``). Beneficiary creation has no ``unique_request_id`` at Currencycloud;
clients find a lost create by ``beneficiary_external_reference``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sandbox.currencycloud.bank_rules import bank_problems
from sandbox.currencycloud.wire import (
    CcError,
    Problems,
    add,
    currency_problems,
    is_uuid,
    new_uuid,
    not_found,
    now_iso,
    page,
)

ACCOUNT_ID = "d0ad035e-b699-4fcd-a73c-13fb0910a884"
CONTACT_ID = "16565245-1b65-464e-affa-58313192b54f"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_REQUIRED = ("name", "bank_account_holder_name", "bank_country", "currency")
_OPTIONAL = (
    "email",
    "beneficiary_country",
    "beneficiary_entity_type",
    "beneficiary_company_name",
    "beneficiary_first_name",
    "beneficiary_last_name",
    "beneficiary_city",
    "beneficiary_postcode",
    "beneficiary_state_or_province",
    "beneficiary_date_of_birth",
    "beneficiary_identification_type",
    "beneficiary_identification_value",
    "bank_name",
    "bank_account_type",
    "account_number",
    "routing_code_type_1",
    "routing_code_value_1",
    "routing_code_type_2",
    "routing_code_value_2",
    "bic_swift",
    "iban",
    "beneficiary_external_reference",
)


class Beneficiaries:
    """The account's beneficiaries (records are the JSON Currencycloud returns)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, object]] = {}
        self.deleted: dict[str, dict[str, object]] = {}

    def validate(self, fields: Mapping[str, str]) -> dict[str, object]:
        """The record these details would make, or 400 ``beneficiary_not_valid``."""
        problems = details_problems(fields)
        if problems:
            raise CcError(400, "beneficiary_not_valid", problems)
        record = render(fields, "")
        for key in ("id", "created_at", "updated_at", "creator_contact_id"):
            record.pop(key)
        return record

    def create(self, fields: Mapping[str, str]) -> dict[str, object]:
        """A new beneficiary, or 400 ``beneficiary_create_failed``."""
        problems = details_problems(fields)
        if problems:
            raise CcError(400, "beneficiary_create_failed", problems)
        record = render(fields, new_uuid())
        self.records[str(record["id"])] = record
        return record

    def get(self, beneficiary_id: str) -> dict[str, object]:
        """The live record, or 404 ``beneficiary_not_found``."""
        record = self.records.get(beneficiary_id)
        if record is None:
            raise not_found("beneficiary")
        return record

    def delete(self, beneficiary_id: str) -> dict[str, object]:
        """Removes the beneficiary and answers its last state."""
        record = self.get(beneficiary_id)
        del self.records[beneficiary_id]
        self.deleted[beneficiary_id] = record
        return record

    def find(self, query: Mapping[str, str]) -> dict[str, object]:
        """Live beneficiaries matching every filter given (exact matches)."""
        keys = ("beneficiary_external_reference", "currency", "name", "bank_country")
        wanted = {key: query[key] for key in keys if query.get(key)}
        found = [r for r in self.records.values() if all(r.get(k) == v for k, v in wanted.items())]
        return page(found, "beneficiaries")

    def usable(self, beneficiary_id: str) -> dict[str, object] | None:
        """The record a payment may pay, or None (unknown or deleted)."""
        return self.records.get(beneficiary_id) if is_uuid(beneficiary_id) else None


def details_problems(fields: Mapping[str, str]) -> Problems:
    """Every problem of one set of beneficiary details (empty when they are fine)."""
    problems: Problems = {}
    for name in ("name", "bank_account_holder_name"):
        value = fields.get(name, "")
        if not value:
            add(problems, name, f"{name}_is_required", f"{name} is required")
        elif len(value) > 255:
            add(
                problems,
                name,
                f"{name}_is_too_long",
                f"{name} can not be longer than 255 character(s)",
                maxlength=255,
            )
    country = fields.get("bank_country", "")
    if not country:
        add(problems, "bank_country", "bank_country_is_required", "bank_country is required")
    elif not _COUNTRY.match(country):
        add(
            problems,
            "bank_country",
            "bank_country_is_in_invalid_format",
            "bank_country is not a valid ISO 3166-1 Alpha-2 country code",
            type="country_code",
        )
        country = ""
    currency = currency_problems(fields, "currency", problems)
    _entity_problems(fields, problems)
    if country and currency:
        bank_problems(fields, country, currency, problems)
    return problems


def _entity_problems(fields: Mapping[str, str], problems: Problems) -> None:
    entity = fields.get("beneficiary_entity_type", "")
    if not entity:
        return
    if entity not in ("individual", "company"):
        add(
            problems,
            "beneficiary_entity_type",
            "beneficiary_entity_type_not_in_range",
            "beneficiary_entity_type should be in range: individual, company",
            range="individual, company",
        )
        return
    needed = (
        ("beneficiary_company_name",)
        if entity == "company"
        else ("beneficiary_first_name", "beneficiary_last_name")
    )
    for name in needed:
        if not fields.get(name):
            words = name.removeprefix("beneficiary_").replace("_", " ")
            add(problems, name, f"{name}_is_missing", f"Beneficiary {words} is missing")


def render(fields: Mapping[str, str], beneficiary_id: str) -> dict[str, object]:
    """The beneficiary JSON for valid ``fields`` (nulls for what was not given)."""
    now = now_iso()
    record: dict[str, object] = {"id": beneficiary_id}
    for name in (*_REQUIRED, *_OPTIONAL):
        record[name] = fields.get(name) or None
    # A form carries one value per key here (the last wins), so one given type is kept.
    given = fields.get("payment_types[]") or fields.get("payment_types")
    if given in ("priority", "regular"):
        types = [given]
    else:
        types = ["priority", "regular"] if fields.get("bic_swift") else ["regular"]
    address = fields.get("beneficiary_address")
    record |= {
        "payment_types": types,
        "beneficiary_address": [address] if address else [],
        "bank_name": fields.get("bank_name") or "TEST BANK NAME",
        "bank_address": ["TEST BANK ADDRESS", " NOT USING EXTERNAL SERVICE", " SANDBOX."],
        "default_beneficiary": "false",
        "creator_contact_id": CONTACT_ID,
        "created_at": now,
        "updated_at": now,
    }
    return record
