"""Beneficiaries on SQLite and PostgreSQL: validation before the provider, idempotent
registration, redacted storage, merchant scope, soft deletion, and registration faults."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway_svc.adapters.tables import beneficiaries
from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import check_new_beneficiary
from gateway_svc.domain.errors import (
    BeneficiaryNotFound,
    IdempotencyKeyReused,
    ProviderUnavailable,
    ValidationFailed,
)
from gateway_svc.service_layer import keys
from gateway_svc.service_layer.beneficiary_flow import CREATE, beneficiary_fingerprint
from gateway_svc.service_layer.fx_commands import (
    CreateBeneficiary,
    DeleteBeneficiary,
    ListBeneficiaries,
)
from gateway_svc.service_layer.keys import KeyHold
from tests.integration.gateway_store.test_fx_support import (
    NAME,
    Fx,
    body,
    gb_beneficiary,
    new_merchant,
    render,
)
from tests.integration.sandbox.test_currencycloud_adapter_support import GB_DETAILS


@pytest.fixture
def sandbox_providers() -> list[str]:
    return [NAME]


ACCOUNT = "31926819"


async def test_validation_normalizes_and_asks_the_provider_and_stores_nothing(fx: Fx) -> None:
    merchant = new_merchant()

    check = await fx.workers.beneficiaries.validate_beneficiary(gb_beneficiary(merchant))

    b = check.beneficiary
    assert (b.id, b.provider_ref, b.masked_account) == ("", "", "...6819")
    assert b.details.routing_codes[0].value == "404784"  # "40-47-84", normalized
    assert await fx.provider_calls("/v2/beneficiaries/validate") == 1
    assert (await fx.provider_state())["beneficiaries"] == {}
    page = await fx.workers.beneficiaries.list_beneficiaries(ListBeneficiaries(merchant))
    assert page.items == []


async def test_bad_details_are_refused_field_by_field_before_any_provider_call(fx: Fx) -> None:
    bad = gb_beneficiary(
        new_merchant(),
        bank_country="DE",
        currency="EUR",
        bank_details=BankDetailsInput(iban="DE89370400440532013001", bic_swift="DEUTDEFF"),
        name="",
    )

    with pytest.raises(ValidationFailed) as caught:
        await fx.workers.beneficiaries.validate_beneficiary(bad)

    assert {v.field for v in caught.value.violations} == {"beneficiary.iban", "beneficiary.name"}
    assert await fx.provider_calls() == 0


async def test_creation_is_idempotent_and_the_stored_details_keep_the_last_four_only(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    cmd = CreateBeneficiary("key_1", "ben-1", gb_beneficiary(merchant))

    first = await fx.workers.beneficiaries.create_beneficiary(cmd, render)
    again = await fx.workers.beneficiaries.create_beneficiary(cmd, render)

    created = first.result
    assert created is not None and created.provider_ref
    assert again.replayed and again.response == first.response
    assert body(first.response)["account"] == "...6819"
    assert len((await fx.provider_state())["beneficiaries"]) == 1
    async with fx.runtime.engine.connect() as conn:
        doc = (await conn.execute(select(beneficiaries.c.doc))).scalar_one()
    assert ACCOUNT not in doc and "...6819" in doc and "404784" in doc
    stored = await fx.workers.beneficiaries.get_beneficiary(merchant, created.id)
    assert (stored.provider_ref, stored.masked_account) == (created.provider_ref, "...6819")
    renamed = CreateBeneficiary("key_1", "ben-1", gb_beneficiary(merchant, name="Other"))
    with pytest.raises(IdempotencyKeyReused):
        await fx.workers.beneficiaries.create_beneficiary(renamed, render)


async def test_a_merchant_sees_only_its_own_beneficiaries_newest_first_by_page(fx: Fx) -> None:
    merchant, other = new_merchant(), new_merchant()
    older = await fx.beneficiary(merchant)
    newer = await fx.beneficiary(merchant, name="Acme Two")
    theirs = await fx.beneficiary(other)

    first = await fx.workers.beneficiaries.list_beneficiaries(
        ListBeneficiaries(merchant, page_size=1)
    )
    second = await fx.workers.beneficiaries.list_beneficiaries(
        ListBeneficiaries(merchant, page_size=1, page_token=first.next_page_token)
    )

    assert [b.id for b in first.items + second.items] == [newer.id, older.id]
    assert second.next_page_token == ""
    with pytest.raises(BeneficiaryNotFound):
        await fx.workers.beneficiaries.get_beneficiary(merchant, theirs.id)
    in_eur = await fx.workers.beneficiaries.list_beneficiaries(
        ListBeneficiaries(merchant, currency="EUR")
    )
    assert in_eur.items == []


async def test_deletion_is_at_the_provider_and_soft_here_and_a_second_is_not_found(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    b = await fx.beneficiary(merchant)
    delete = DeleteBeneficiary(merchant, "key_1", b.id)

    deleted = await fx.workers.beneficiaries.delete_beneficiary(delete)

    assert deleted.is_deleted
    assert (await fx.provider_state())["deleted_beneficiaries"] == [b.provider_ref]
    with pytest.raises(BeneficiaryNotFound):
        await fx.workers.beneficiaries.get_beneficiary(merchant, b.id)
    with pytest.raises(BeneficiaryNotFound):
        await fx.workers.beneficiaries.delete_beneficiary(delete)
    listed = await fx.workers.beneficiaries.list_beneficiaries(ListBeneficiaries(merchant))
    assert listed.items == []
    with pytest.raises(BeneficiaryNotFound):
        await fx.workers.beneficiaries.delete_beneficiary(
            DeleteBeneficiary(new_merchant(), "key_2", b.id)
        )
    await fx.relay.drain()
    assert fx.audit.actions() == ["gateway.beneficiary.create", "gateway.beneficiary.delete"]


async def test_a_provider_that_cannot_register_leaves_nothing_and_the_key_free(fx: Fx) -> None:
    merchant = new_merchant()
    await fx.sandbox.control.add_fault(provider=NAME, kind="error", status=503, count=3,
                                       path="/v2/beneficiaries/find")  # fmt: skip
    cmd = CreateBeneficiary("key_1", "ben-1", gb_beneficiary(merchant))

    with pytest.raises(ProviderUnavailable):
        await fx.workers.beneficiaries.create_beneficiary(cmd, render)

    async with fx.runtime.engine.connect() as conn:
        assert (await conn.execute(select(beneficiaries.c.id))).all() == []
    retried = await fx.workers.beneficiaries.create_beneficiary(cmd, render)
    assert retried.result is not None and retried.result.provider_ref


async def test_the_completer_binds_what_the_provider_registered_before_the_crash(
    fx: Fx,
) -> None:
    merchant = new_merchant()
    cmd = CreateBeneficiary("key_1", "ben-mid", gb_beneficiary(merchant))
    details, _ = check_new_beneficiary(cmd.beneficiary)
    fp = beneficiary_fingerprint(cmd.beneficiary, details)
    hold = await keys.open_key(fx.runtime, merchant, "ben-mid", CREATE, fp)
    assert isinstance(hold, KeyHold)
    hold = await fx.workers.beneficiaries.creating.start(hold, cmd)
    assert hold.record.payment_id is not None
    async with fx.runtime.engine.connect() as conn:
        stored = (await conn.execute(select(beneficiaries.c.doc))).scalar_one()
    assert ACCOUNT in stored  # in full until registered: a resumed request must send it
    registered = await fx.cc.create_beneficiary(GB_DETAILS, hold.record.payment_id)  # lost
    fx.clock.advance(91)

    await fx.reconciler.run_once()
    retried = await fx.workers.beneficiaries.create_beneficiary(cmd, render)

    assert retried.result is not None and retried.result.provider_ref == registered.provider_ref
    assert len((await fx.provider_state())["beneficiaries"]) == 1
