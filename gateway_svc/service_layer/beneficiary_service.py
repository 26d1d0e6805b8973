"""The beneficiary use cases, one object for the entrypoint: ``BeneficiaryService``.

Reads and deletes see only the caller's live, registered beneficiaries: another merchant's,
a deleted one and one whose registration has not completed all answer
BENEFICIARY_NOT_FOUND, exactly like a missing id.

Guarantees:

- validation (the domain's rules, one violation per bad field) comes before any provider
  call, for ValidateBeneficiary and CreateBeneficiary alike; the provider's own refusal is
  reported the same way, on our field names;
- one registration per (merchant, request_id) (``beneficiary_flow``);
- a deleted beneficiary is deleted at the provider first, then here (soft: the payouts that
  name it keep it); deleting again is BENEFICIARY_NOT_FOUND, so a retry after a lost reply
  may take that as done.
"""

from __future__ import annotations

from gateway_svc.domain.beneficiaries import Beneficiary, NewBeneficiary, open_beneficiary
from gateway_svc.domain.errors import BeneficiaryNotFound
from gateway_svc.domain.fx_provider import ProviderNotFound
from svc_kit.pagination import Page

from .beneficiary_flow import (
    PROVIDER_FIELDS,
    BeneficiaryFlow,
    beneficiary_details,
    provider_details,
)
from .commands import Answer
from .fx_calls import FxCaller, FxStep, provider_violations, refused, unavailable
from .fx_commands import (
    BeneficiaryCheck,
    CreateBeneficiary,
    DeleteBeneficiary,
    ListBeneficiaries,
    RenderBeneficiary,
)
from .fx_effects import audit
from .fx_pages import page_after, page_key, page_size, pagination
from .fx_uow import FxUnitOfWork
from .runtime import GatewayRuntime

DELETE = "gateway.beneficiary.delete"


def beneficiary_not_found(beneficiary_id: str) -> BeneficiaryNotFound:
    """The answer for a missing, deleted, unregistered or another merchant's beneficiary."""
    return BeneficiaryNotFound(
        f"beneficiary {beneficiary_id} not found", metadata={"beneficiary_id": beneficiary_id}
    )


def visible(b: Beneficiary | None, merchant_id: str, beneficiary_id: str) -> Beneficiary:
    """``b`` when the merchant may see it (see the module docstring)."""
    if b is None or not b.provider_ref:
        raise beneficiary_not_found(beneficiary_id)
    b.ensure_visible_to(merchant_id)
    return b


class BeneficiaryService:
    """Validate, create, get, list and delete beneficiaries; one per process."""

    def __init__(self, rt: GatewayRuntime, caller: FxCaller) -> None:
        self._rt = rt
        self._caller = caller
        self.creating = BeneficiaryFlow(rt, caller)

    async def validate_beneficiary(self, request: NewBeneficiary) -> BeneficiaryCheck:
        """The details as they would be stored, checked by our rules then the provider's;
        nothing is saved. Raises ValidationFailed, ProviderUnavailable."""
        b = open_beneficiary(request, "", self._rt.clock())
        details = provider_details(b)
        tried = await self._caller.run(
            "validate_beneficiary", lambda p: p.validate_beneficiary(details)
        )
        if tried.step is FxStep.DONE and tried.value is not None:
            b.bank_name = tried.value.bank_name
            return BeneficiaryCheck(b, tried.value.bank_name)
        if tried.step is FxStep.REFUSED and tried.error is not None:
            violations = provider_violations(tried.error, "beneficiary", PROVIDER_FIELDS)
            raise refused("beneficiary", tried.error, violations)
        raise unavailable("validate the beneficiary", tried.reason, {})

    async def create_beneficiary(
        self, cmd: CreateBeneficiary, render: RenderBeneficiary
    ) -> Answer[Beneficiary]:
        """Validate, store and register a beneficiary (keyed). Raises ValidationFailed,
        IdempotencyKeyReused, IdempotencyKeyInUse, ConcurrentModification,
        ProviderUnavailable; answers the beneficiary or the stored VALIDATION_FAILED of a
        provider's refusal."""
        return await self.creating(cmd, render)

    async def get_beneficiary(self, merchant_id: str, beneficiary_id: str) -> Beneficiary:
        """The merchant's live beneficiary; raises BeneficiaryNotFound."""
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.beneficiaries.get(merchant_id, beneficiary_id)
        return visible(found, merchant_id, beneficiary_id)

    async def list_beneficiaries(self, query: ListBeneficiaries) -> Page[Beneficiary]:
        """A page of the merchant's live beneficiaries, newest first; raises
        ValidationFailed, InvalidPageToken."""
        limit = page_size(query.page_size)
        filters: dict[str, object] = {"merchant": query.merchant_id, "currency": query.currency}
        after = page_after(query.page_token, filters)
        async with FxUnitOfWork(self._rt.engine, read_only=True) as uow:
            found = await uow.beneficiaries.list(
                query.merchant_id, query.currency, after, limit + 1
            )
        return pagination.page(found, limit, lambda b: page_key(b.created_at, b.id), filters)

    async def delete_beneficiary(self, cmd: DeleteBeneficiary) -> Beneficiary:
        """Delete at the provider, then here (soft); the deleted beneficiary. Raises
        BeneficiaryNotFound, ValidationFailed (the provider refused), ProviderUnavailable
        (nothing was deleted), ConcurrentModification."""
        b = await self.get_beneficiary(cmd.merchant_id, cmd.beneficiary_id)
        ref = b.provider_ref
        tried = await self._caller.run("delete_beneficiary", lambda p: p.delete_beneficiary(ref))
        gone = isinstance(tried.error, ProviderNotFound)  # deleted there already: go on
        if tried.step is FxStep.REFUSED and tried.error is not None and not gone:
            violations = provider_violations(tried.error, "beneficiary_id", {})
            raise refused("deletion", tried.error, violations)
        if tried.step is not FxStep.DONE and not gone:
            raise unavailable("delete the beneficiary", tried.reason, b.error_metadata())
        return await self._delete_here(cmd)

    async def _delete_here(self, cmd: DeleteBeneficiary) -> Beneficiary:
        rt, now = self._rt, self._rt.clock()
        async with FxUnitOfWork(rt.engine) as uow:
            found = await uow.beneficiaries.get(cmd.merchant_id, cmd.beneficiary_id)
            b = visible(found, cmd.merchant_id, cmd.beneficiary_id)
            read = b.version
            b.delete(now)
            await uow.beneficiaries.update(b, read)
            await audit(
                uow,
                action=DELETE,
                merchant_id=b.merchant_id,
                target=f"beneficiaries/{b.id}",
                actor_key_id=cmd.actor_key_id,
                event_parts=(b.merchant_id, DELETE, b.id),
                details=beneficiary_details(b),
                now=now,
            )
            await uow.commit()
        rt.kick()
        return b
