"""The role -> permission table, checked against a matrix written out by hand.

A change to ROLE_PERMISSIONS fails here until EXPECTED is changed to match, so
every widening or narrowing of a role shows up as a deliberate diff.
"""

from __future__ import annotations

import itertools

import pytest

from identity_svc.domain.permissions import (
    DEFAULT_RATE_LIMITS,
    ROLE_PERMISSIONS,
    Permission,
    RateLimit,
    Role,
    grants,
)

# Y = granted, - = refused.
EXPECTED = """
permission            admin  owner  developer  finance  viewer
merchants:manage        Y      -        -         -       -
keys:manage             Y      Y        -         -       -
payments:read           Y      Y        Y         Y       Y
payments:write          Y      Y        Y         -       -
payments:refund         Y      Y        -         Y       -
payouts:read            Y      Y        Y         Y       Y
payouts:write           Y      Y        -         Y       -
fx:read                 Y      Y        Y         Y       Y
fx:write                Y      Y        -         Y       -
beneficiaries:read      Y      Y        Y         Y       Y
beneficiaries:write     Y      Y        -         Y       -
balances:read           Y      Y        Y         Y       Y
ledger:read             Y      -        -         -       -
ledger:write            Y      -        -         -       -
webhooks:manage         Y      Y        Y         -       -
audit:read              Y      Y        -         Y       -
audit:write             -      -        -         -       -
"""


def _parse(table: str) -> dict[tuple[str, str], bool]:
    header, *rows = (line.split() for line in table.strip().splitlines())
    roles = header[1:]
    matrix: dict[tuple[str, str], bool] = {}
    for permission, *cells in rows:
        assert len(cells) == len(roles), f"row {permission} has {len(cells)} cells"
        for role, cell in zip(roles, cells, strict=True):
            assert cell in ("Y", "-"), f"cell {role}/{permission} is {cell!r}"
            matrix[(role, permission)] = cell == "Y"
    return matrix


MATRIX = _parse(EXPECTED)


def test_the_expected_matrix_names_every_role_and_every_permission_once() -> None:
    roles = {role for role, _ in MATRIX}
    permissions = {permission for _, permission in MATRIX}

    assert roles == {r.value for r in Role}
    assert permissions == {p.value for p in Permission}
    assert len(MATRIX) == len(Role) * len(Permission) == 85


@pytest.mark.parametrize(
    ("role", "permission"),
    list(itertools.product(Role, Permission)),
    ids=lambda value: str(value),
)
def test_each_role_grants_exactly_the_permissions_in_the_expected_matrix(
    role: Role, permission: Permission
) -> None:
    assert grants(role, permission) is MATRIX[(role.value, permission.value)]


def test_every_role_has_a_permission_set_and_a_positive_default_rate_limit() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert set(DEFAULT_RATE_LIMITS) == set(Role)
    for role in Role:
        limit = DEFAULT_RATE_LIMITS[role]
        assert isinstance(limit, RateLimit)
        assert limit.requests_per_second > 0, role
        assert limit.burst >= 1, role


def test_admin_has_every_permission_but_writing_the_audit_log() -> None:
    # Only workloads append audit records (identity's AuditService, by certificate).
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission) - {Permission.AUDIT_WRITE}


@pytest.mark.parametrize("permission", [Permission.MERCHANTS_MANAGE, Permission.LEDGER_WRITE])
def test_only_admin_may_manage_merchants_or_write_the_ledger(permission: Permission) -> None:
    holders = {role for role in Role if grants(role, permission)}

    assert holders == {Role.ADMIN}


def test_viewer_only_reads_and_every_other_role_can_read_what_viewer_can() -> None:
    viewer = ROLE_PERMISSIONS[Role.VIEWER]

    assert all(p.value.endswith(":read") for p in viewer)
    assert Permission.AUDIT_READ not in viewer
    for role in Role:
        assert viewer <= ROLE_PERMISSIONS[role], role


def test_money_out_is_finance_not_developer() -> None:
    money_out = {Permission.PAYMENTS_REFUND, Permission.PAYOUTS_WRITE}

    assert money_out <= ROLE_PERMISSIONS[Role.FINANCE]
    assert not money_out & ROLE_PERMISSIONS[Role.DEVELOPER]


def test_permission_names_are_resource_colon_verb() -> None:
    for permission in Permission:
        resource, _, verb = permission.value.partition(":")
        assert resource.isalpha() and resource.islower(), permission
        assert verb in {"read", "write", "manage", "refund"}, permission
