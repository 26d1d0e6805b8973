"""Beneficiaries on one connection: documents, versions, soft deletion, merchant scope.

Bank details are personal data, and the domain's rule is that the full details go to the
provider and nowhere else (``domain.beneficiaries``). They are stored in full only while the
provider has not created the beneficiary yet, because a request resumed after a crash must
send them again; the write that binds the provider's id stores them redacted: the account
number, the IBAN and a CLABE (each names the account itself) keep their last four
characters, while the BIC and the other routing codes (they name a bank or branch, not an
account) stay whole. A redacted beneficiary displays exactly as before (``masked_account``).

Reads a merchant can cause are scoped by ``merchant_id``; whether a deleted or not yet
registered beneficiary is visible is the use case's call (``Beneficiary.ensure_visible_to``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway_svc.domain.bank_details import BankDetails, RoutingCode, mask
from gateway_svc.domain.beneficiaries import Beneficiary, EntityType
from gateway_svc.domain.errors import ConcurrentModification
from gateway_svc.domain.fx_provider import PaymentType
from gateway_svc.domain.routing_codes import RoutingCodeType

from .rows import dumps, utc, utc_or_none
from .tables import beneficiaries

_ACCOUNT_CODES = frozenset({RoutingCodeType.CLABE})
"""Routing codes that identify the account itself, so they are redacted like one."""


def _details_doc(details: BankDetails, *, redact: bool) -> dict[str, Any]:
    def shown(value: str) -> str:
        return mask(value) if redact else value

    return {
        "account_number": shown(details.account_number),
        "iban": shown(details.iban),
        "bic_swift": details.bic_swift,
        "routing_codes": [
            [c.type.value, shown(c.value) if c.type in _ACCOUNT_CODES else c.value]
            for c in details.routing_codes
        ],
    }


def _details(d: Mapping[str, Any]) -> BankDetails:
    return BankDetails(
        account_number=d.get("account_number", ""),
        iban=d.get("iban", ""),
        bic_swift=d.get("bic_swift", ""),
        routing_codes=tuple(
            RoutingCode(RoutingCodeType(kind), value) for kind, value in d.get("routing_codes", [])
        ),
    )


def beneficiary_doc(b: Beneficiary) -> dict[str, Any]:
    """The JSON document of a beneficiary; details redacted once the provider has it."""
    return {
        "id": b.id,
        "merchant_id": b.merchant_id,
        "name": b.name,
        "bank_account_holder_name": b.bank_account_holder_name,
        "bank_country": b.bank_country,
        "currency": b.currency,
        "details": _details_doc(b.details, redact=bool(b.provider_ref)),
        "payment_types": [t.value for t in b.payment_types],
        "created_at": b.created_at.isoformat(),
        "entity_type": b.entity_type.value if b.entity_type is not None else None,
        "provider_ref": b.provider_ref,
        "deleted_at": b.deleted_at.isoformat() if b.deleted_at is not None else None,
        "bank_name": b.bank_name,
        "version": b.version,
    }


def beneficiary_from_doc(d: Mapping[str, Any]) -> Beneficiary:
    """The inverse of ``beneficiary_doc`` (redacted details stay redacted)."""
    deleted = d.get("deleted_at")
    return Beneficiary(
        id=d["id"],
        merchant_id=d["merchant_id"],
        name=d["name"],
        bank_account_holder_name=d["bank_account_holder_name"],
        bank_country=d["bank_country"],
        currency=d["currency"],
        details=_details(d["details"]),
        payment_types=tuple(PaymentType(t) for t in d["payment_types"]),
        created_at=datetime.fromisoformat(d["created_at"]),
        entity_type=EntityType(d["entity_type"]) if d.get("entity_type") else None,
        provider_ref=d.get("provider_ref", ""),
        deleted_at=datetime.fromisoformat(deleted) if deleted else None,
        version=d["version"],
        bank_name=d.get("bank_name", ""),
    )


def _values(b: Beneficiary) -> dict[str, Any]:
    return {
        "id": b.id,
        "merchant_id": b.merchant_id,
        "currency": b.currency,
        "bank_country": b.bank_country,
        "provider_ref": b.provider_ref,
        "create_time": utc(b.created_at),
        "delete_time": utc_or_none(b.deleted_at),
        "version": b.version,
        "doc": dumps(beneficiary_doc(b)),
    }


class BeneficiaryRepository:
    """``beneficiaries`` rows on one connection (bound by the unit of work)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, beneficiary: Beneficiary) -> None:
        """Insert a new beneficiary (not yet at the provider: details in full)."""
        await self._conn.execute(insert(beneficiaries).values(_values(beneficiary)))

    async def get(self, merchant_id: str, beneficiary_id: str) -> Beneficiary | None:
        """The merchant's beneficiary, deleted or not; None for a missing or another
        merchant's one."""
        b = beneficiaries.c
        stmt = select(b.doc).where(b.id == beneficiary_id, b.merchant_id == merchant_id)
        doc = (await self._conn.execute(stmt)).scalar_one_or_none()
        return None if doc is None else beneficiary_from_doc(json.loads(doc))

    async def update(self, beneficiary: Beneficiary, read_version: int) -> None:
        """Write over the row at ``read_version`` (bumping the version), or raise
        ConcurrentModification."""
        beneficiary.version = max(beneficiary.version, read_version + 1)
        values = _values(beneficiary)
        for column in ("id", "merchant_id", "create_time"):
            values.pop(column)
        b = beneficiaries.c
        stmt = update(beneficiaries).where(b.id == beneficiary.id, b.version == read_version)
        if (await self._conn.execute(stmt.values(values))).rowcount != 1:
            raise ConcurrentModification(
                f"beneficiary {beneficiary.id} changed since it was read; retry",
                metadata={"beneficiary_id": beneficiary.id},
            )

    async def discard(self, beneficiary_id: str) -> None:
        """Delete a beneficiary the provider refused to create: it never existed for
        anyone, so nothing of it (its full bank details least of all) is kept."""
        b = beneficiaries.c
        await self._conn.execute(
            delete(beneficiaries).where(b.id == beneficiary_id, b.provider_ref == "")
        )

    async def list(
        self,
        merchant_id: str,
        currency: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Beneficiary]:
        """The merchant's live, registered beneficiaries, newest first, after ``after``."""
        b = beneficiaries.c
        stmt = select(b.doc).where(
            b.merchant_id == merchant_id, b.delete_time.is_(None), b.provider_ref != ""
        )
        if currency:
            stmt = stmt.where(b.currency == currency)
        if after is not None:
            stmt = stmt.where(tuple_(b.create_time, b.id) < tuple_(utc(after[0]), after[1]))
        stmt = stmt.order_by(b.create_time.desc(), b.id.desc()).limit(limit)
        docs = (await self._conn.execute(stmt)).scalars().all()
        return [beneficiary_from_doc(json.loads(doc)) for doc in docs]
