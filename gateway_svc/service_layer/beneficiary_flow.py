"""CreateBeneficiary in keyed phases: validated, stored, then registered with the provider.

    validate             ``check_new_beneficiary``: one violation per bad field, nothing
                         stored, before any provider call
    a  open the key      New / Replay / InFlight / Mismatch / Resume
    b  STARTED           the beneficiary stored, not yet registered (invisible to reads and
                         to payouts); commit -> PAYMENT_CREATED
    c  (no transaction)  create_beneficiary at the provider, keyed by the beneficiary's id
                         (Currencycloud's external reference: the adapter finds one made
                         under it before creating, so a repeat registers nothing twice)
    d  PAYMENT_CREATED   registered: the provider's id bound (and the bank details redacted
                         in storage, ``beneficiary_store``), audit -> PROVIDER_CALLED
    e  PROVIDER_CALLED   render, store, finish

Provider outcomes at c: a refusal of the details is VALIDATION_FAILED (one violation per
field it named), stored with the key, and the beneficiary is forgotten; a provider that
provably did nothing (PROVIDER_UNAVAILABLE) forgets the beneficiary and the key, so the same
request_id may run again; no answer (it may have registered it) keeps both, and a retry with
the same request_id resumes at c. The completer, without a client, only asks the provider
what the id registered (``find_beneficiary``): found, it is bound; not found, both are
forgotten and the client's retry starts afresh.
"""

from __future__ import annotations

from dataclasses import replace

from gateway_svc.domain import idempotency as idem
from gateway_svc.domain.bank_details import BankDetails, mask
from gateway_svc.domain.beneficiaries import (
    Beneficiary,
    EntityType,
    NewBeneficiary,
    check_new_beneficiary,
    open_beneficiary,
)
from gateway_svc.domain.errors import GatewayError
from gateway_svc.domain.fx_provider import BeneficiaryDetails, BeneficiaryView
from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.routing_codes import RoutingCodeType

from . import keys
from .commands import Answer
from .finishing import leave_for_retry
from .fx_calls import FxCaller, FxStep, FxTried, provider_violations, refused, unavailable
from .fx_commands import CreateBeneficiary, RenderBeneficiary
from .fx_effects import audit
from .fx_holds import release_for_retry
from .fx_uow import FxUnitOfWork
from .keys import KeyHold, Replayed
from .runtime import GatewayRuntime

CREATE = "beneficiaries.create"
ACTION = "gateway.beneficiary.create"
PROVIDER_FIELDS = {
    "routing_code_type_1": "routing_code_type",
    "routing_code_value_1": "routing_code_value",
    "beneficiary_entity_type": "entity_type",
    "request_id": "",
}
"""The provider's beneficiary fields that our request names differently ("" : the whole)."""


def beneficiary_fingerprint(request: NewBeneficiary, details: BankDetails) -> str:
    """The request's fingerprint over its normalized details, with the account number, IBAN
    and CLABE as their last four only: a plain hash of a short account number could be
    reversed by trying them all, and these are personal data (the card rule, for banks)."""
    codes = [
        [c.type.value, mask(c.value) if c.type is RoutingCodeType.CLABE else c.value]
        for c in details.routing_codes
    ]
    return idem.fingerprint(
        CREATE,
        {
            "name": request.name.strip(),
            "bank_account_holder_name": request.bank_account_holder_name.strip(),
            "bank_country": request.bank_country,
            "currency": request.currency,
            "entity_type": request.entity_type,
            "payment_types": list(request.payment_types),
            "account_number": mask(details.account_number),
            "iban": mask(details.iban),
            "bic_swift": details.bic_swift,
            "routing_codes": codes,
        },
    )


def provider_details(b: Beneficiary) -> BeneficiaryDetails:
    """What the provider is sent: the domain's details, plus the holder's name in the
    fields Currencycloud requires once an entity type is given (a company's name; a person's
    first and last names, the last word taken as the last name)."""
    details = b.provider_details()
    holder = b.bank_account_holder_name
    if b.entity_type is EntityType.COMPANY:
        return replace(details, beneficiary_company_name=holder)
    if b.entity_type is EntityType.INDIVIDUAL:
        first, _, last = holder.rpartition(" ")
        return replace(details, beneficiary_first_name=first or last, beneficiary_last_name=last)
    return details


def beneficiary_details(b: Beneficiary) -> dict[str, str]:
    """What an audit record says about a beneficiary: no bank details beyond the mask."""
    return {
        "beneficiary_id": b.id,
        "currency": b.currency,
        "bank_country": b.bank_country,
        "account": b.masked_account,
    }


class BeneficiaryFlow:
    """CreateBeneficiary and its resumption; one per process."""

    def __init__(self, rt: GatewayRuntime, caller: FxCaller) -> None:
        self._rt = rt
        self._caller = caller

    async def __call__(
        self, cmd: CreateBeneficiary, render: RenderBeneficiary
    ) -> Answer[Beneficiary]:
        """See the module docstring."""
        details, _ = check_new_beneficiary(cmd.beneficiary)
        keys.check_request_id(cmd.request_id, required=False)
        key = cmd.request_id or self._rt.new_id("gen")
        fp = beneficiary_fingerprint(cmd.beneficiary, details)
        merchant = cmd.beneficiary.merchant_id
        opened = await keys.open_key(self._rt, merchant, key, CREATE, fp)
        if isinstance(opened, Replayed):
            return Answer(opened.response, replayed=True)
        hold: KeyHold | Answer[Beneficiary] = opened
        if opened.point is RecoveryPoint.STARTED:
            hold = await self.start(opened, cmd)
        if isinstance(hold, KeyHold) and hold.point is RecoveryPoint.PAYMENT_CREATED:
            hold = await self._register(hold, cmd.actor_key_id, render)
        return hold if isinstance(hold, Answer) else await self.finish(hold, render)

    async def resume(self, hold: KeyHold) -> None:
        """The completer's resumption: settle by asking the provider, never register."""
        if hold.point is RecoveryPoint.STARTED:
            await keys.drop(self._rt, hold)
            return
        if hold.point is RecoveryPoint.PAYMENT_CREATED:
            b = await self._load(hold)
            found = await self._caller.run("find_beneficiary", lambda p: p.find_beneficiary(b.id))
            if found.step is not FxStep.DONE:
                return  # cannot tell now: the key waits for the next pass
            if found.value is None:
                await self._forget(hold, b.id)
                return
            hold = await self._bind(hold, found.value, "")
        await leave_for_retry(self._rt, hold)

    async def start(self, hold: KeyHold, cmd: CreateBeneficiary) -> KeyHold:
        rt = self._rt
        b = open_beneficiary(cmd.beneficiary, rt.new_id("ben"), rt.clock())
        async with FxUnitOfWork(rt.engine) as uow:
            await uow.beneficiaries.add(b)
            hold = await keys.advance(
                uow, hold, RecoveryPoint.PAYMENT_CREATED, rt.clock(), payment_id=b.id
            )
            await uow.commit()
        return hold

    async def _register(
        self, hold: KeyHold, actor_key_id: str, render: RenderBeneficiary
    ) -> KeyHold | Answer[Beneficiary]:
        """Phases c and d with the client present (see the module docstring)."""
        b = await self._load(hold)
        if b.provider_ref:
            return await self._bind(hold, None, actor_key_id)
        details = provider_details(b)
        tried: FxTried[BeneficiaryView] = await self._caller.run(
            "create_beneficiary", lambda p: p.create_beneficiary(details, b.id)
        )
        if tried.step is FxStep.DONE and tried.value is not None:
            return await self._bind(hold, tried.value, actor_key_id)
        if tried.step is FxStep.REFUSED and tried.error is not None:
            violations = provider_violations(tried.error, "beneficiary", PROVIDER_FIELDS)
            return await self._refuse(hold, b.id, refused("beneficiary", tried.error, violations),
                                      render)  # fmt: skip
        if tried.step is FxStep.UNAVAILABLE:
            await self._forget(hold, b.id)
        else:
            await release_for_retry(self._rt, hold, self._rt.clock())
        raise unavailable("register the beneficiary", tried.reason, b.error_metadata())

    async def _load(self, hold: KeyHold) -> Beneficiary:
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            b = await uow.beneficiaries.get(hold.record.merchant_id, hold.record.payment_id)
        assert b is not None, hold
        return b

    async def _bind(
        self, hold: KeyHold, view: BeneficiaryView | None, actor_key_id: str
    ) -> KeyHold:
        """Phase d: the provider's id bound (details redacted), audit -> PROVIDER_CALLED."""
        rt, now = self._rt, self._rt.clock()
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(rt.engine) as uow:
            b = await uow.beneficiaries.get(hold.record.merchant_id, hold.record.payment_id)
            assert b is not None, hold
            if view is not None and not b.provider_ref:
                read = b.version
                b.bind(view.provider_ref, view.bank_name)
                await uow.beneficiaries.update(b, read)
                key = hold.record.key
                await audit(
                    uow,
                    action=ACTION,
                    merchant_id=b.merchant_id,
                    target=f"beneficiaries/{b.id}",
                    actor_key_id=actor_key_id,
                    event_parts=(b.merchant_id, key, ACTION, b.id),
                    details=beneficiary_details(b),
                    now=now,
                    request_id=key,
                )
            hold = await keys.advance(uow, hold, RecoveryPoint.PROVIDER_CALLED, now)
            await uow.commit()
        rt.kick()
        return hold

    async def _refuse(
        self, hold: KeyHold, beneficiary_id: str, error: GatewayError, render: RenderBeneficiary
    ) -> Answer[Beneficiary]:
        """The provider refused the details: forget the beneficiary, store the refusal."""
        async with FxUnitOfWork(self._rt.engine) as uow:
            await uow.beneficiaries.discard(beneficiary_id)
            response = render(error)
            await keys.finish(uow, hold, response, self._rt.clock())
            await uow.commit()
        return Answer(response, error=error)

    async def _forget(self, hold: KeyHold, beneficiary_id: str) -> None:
        """Nothing reached the provider: forget the beneficiary and the key."""
        async with FxUnitOfWork(self._rt.engine) as uow:
            await uow.beneficiaries.discard(beneficiary_id)
            await uow.keys.delete(hold.record)
            await uow.commit()

    async def finish(self, hold: KeyHold, render: RenderBeneficiary) -> Answer[Beneficiary]:
        """Phase e: render the registered beneficiary, store it, finish the key."""
        assert hold.record.payment_id is not None, hold
        async with FxUnitOfWork(self._rt.engine) as uow:
            b = await uow.beneficiaries.get(hold.record.merchant_id, hold.record.payment_id)
            assert b is not None, hold
            response = render(b)
            await keys.finish(uow, hold, response, self._rt.clock())
            await uow.commit()
        return Answer(response, result=b)
