"""The route table: every REST and gRPC path of the protos resolves to its RPC."""

from __future__ import annotations

import re

import pytest

from identity_svc.domain.permissions import Permission
from identity_svc.entrypoints.routes import (
    RouteTable,
    compile_template,
    list_methods,
    paymesh_services,
)
from identity_svc.service_layer.authorizer import ANY_AUTHENTICATED

ID = "/paymesh.identity.v1.IdentityService/"
LEDGER = "/paymesh.ledger.v1.LedgerService/"

REST_ROUTES = [
    ("POST", "/v1/merchants", ID + "CreateMerchant"),
    ("GET", "/v1/merchants/mer_1", ID + "GetMerchant"),
    ("GET", "/v1/merchants", ID + "ListMerchants"),
    ("PATCH", "/v1/merchants/mer_1", ID + "UpdateMerchant"),
    ("POST", "/v1/merchants/mer_1/api-keys", ID + "CreateApiKey"),
    ("GET", "/v1/merchants/mer_1/api-keys", ID + "ListApiKeys"),
    ("GET", "/v1/api-keys/abc", ID + "GetApiKey"),
    ("POST", "/v1/api-keys/abc:rotate", ID + "RotateApiKey"),
    ("POST", "/v1/api-keys/abc:revoke", ID + "RevokeApiKey"),
    ("GET", "/v1/merchants/mer_1/usage", ID + "GetUsage"),
    ("GET", "/v1/audit-events", ID + "ListAuditEvents"),
    ("POST", "/v1/audit-events:verify", ID + "VerifyAuditLog"),
    ("GET", "/v1/me", ID + "WhoAmI"),
    ("POST", "/v1/ledger/accounts", LEDGER + "CreateAccount"),
    ("GET", "/v1/ledger/accounts/acc_1", LEDGER + "GetAccount"),
    ("GET", "/v1/ledger/accounts:lookup", LEDGER + "GetAccount"),
    ("GET", "/v1/ledger/accounts", LEDGER + "ListAccounts"),
    ("POST", "/v1/ledger/accounts/acc_1:close", LEDGER + "CloseAccount"),
    ("GET", "/v1/ledger/accounts/acc_1/balance", LEDGER + "GetBalance"),
    ("GET", "/v1/ledger/accounts/acc_1/entries", LEDGER + "ListEntries"),
    ("POST", "/v1/ledger/transactions", LEDGER + "CreateTransaction"),
    ("POST", "/v1/ledger/transactions:batchCreate", LEDGER + "CreateTransactions"),
    ("GET", "/v1/ledger/transactions/txn_1", LEDGER + "GetTransaction"),
    ("GET", "/v1/ledger/transactions", LEDGER + "ListTransactions"),
    ("POST", "/v1/ledger/transactions/txn_1:post", LEDGER + "PostTransaction"),
    ("POST", "/v1/ledger/transactions/txn_1:void", LEDGER + "VoidTransaction"),
    ("POST", "/v1/ledger/transactions/txn_1:reverse", LEDGER + "ReverseTransaction"),
    ("GET", "/v1/ledger/trial-balance", LEDGER + "GetTrialBalance"),
    ("POST", "/v1/ledger:verify", LEDGER + "VerifyLedger"),
]


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable.for_paymesh()


@pytest.mark.parametrize(("method", "path", "expected"), REST_ROUTES)
def test_every_rest_route_resolves_to_its_rpc(
    table: RouteTable, method: str, path: str, expected: str
) -> None:
    route = table.lookup(method, path)
    assert route is not None, f"{method} {path} resolved to nothing"
    assert route.full_method == expected


def test_the_table_above_covers_every_rpc_of_both_services() -> None:
    listed = {expected for _, _, expected in REST_ROUTES}
    declared = {
        route.full_method
        for route in list_methods(paymesh_services())
        if route.full_method.startswith((ID, LEDGER))
    }
    assert listed == declared


def test_a_verb_is_not_swallowed_by_a_single_segment_variable(table: RouteTable) -> None:
    rotate = table.lookup("POST", "/v1/api-keys/abc:rotate")
    get = table.lookup("GET", "/v1/api-keys/abc")
    assert rotate is not None and rotate.full_method == ID + "RotateApiKey"
    assert get is not None and get.full_method == ID + "GetApiKey"
    assert table.lookup("GET", "/v1/api-keys/abc:rotate") is None
    assert table.lookup("POST", "/v1/api-keys/abc:frobnicate") is None


def test_an_additional_binding_with_a_query_string_resolves(table: RouteTable) -> None:
    route = table.lookup("GET", "/v1/ledger/accounts:lookup?code=x")
    assert route is not None
    assert route.full_method == LEDGER + "GetAccount"
    assert route.access is Permission.LEDGER_READ


def test_query_strings_are_ignored_on_literal_and_templated_paths(table: RouteTable) -> None:
    me = table.lookup("GET", "/v1/me?x=1")
    keys = table.lookup("GET", "/v1/merchants/m/api-keys?page_size=5&page_token=abc")
    assert me is not None and me.full_method == ID + "WhoAmI"
    assert keys is not None and keys.full_method == ID + "ListApiKeys"


def test_a_nested_field_variable_matches_one_segment(table: RouteTable) -> None:
    route = table.lookup("PATCH", "/v1/merchants/mer_1")
    assert route is not None and route.full_method == ID + "UpdateMerchant"
    assert table.lookup("PATCH", "/v1/merchants/mer_1/extra") is None


def test_grpc_paths_resolve_with_their_access(table: RouteTable) -> None:
    whoami = table.lookup("POST", ID + "WhoAmI")
    create = table.lookup("POST", LEDGER + "CreateAccount")
    assert whoami is not None and whoami.access is ANY_AUTHENTICATED
    assert create is not None and create.access is Permission.LEDGER_WRITE
    assert table.lookup("GET", ID + "WhoAmI") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing"),
        ("DELETE", "/v1/me"),
        ("PUT", "/v1/merchants/mer_1"),
        ("GET", "/v1/merchants/mer_1/api-keys/extra"),
        ("GET", "/v1/api-keys/"),
        ("GET", "/v1/me/"),
        ("POST", "/paymesh.identity.v1.IdentityService/Nope"),
        ("BREW", "/v1/me"),
    ],
)
def test_unknown_paths_and_methods_resolve_to_nothing(
    table: RouteTable, method: str, path: str
) -> None:
    assert table.lookup(method, path) is None


@pytest.mark.parametrize(
    ("template", "matching", "not_matching"),
    [
        ("/v1/{name=shelves/*}/books", "/v1/shelves/s1/books", "/v1/shelves/books"),
        ("/v1/files/{path=**}", "/v1/files/a/b/c", "/v1/filesx/a"),
        ("/v1/{a.b.c}:run", "/v1/x:run", "/v1/x/y:run"),
        ("/v1/*/items", "/v1/any/items", "/v1/a/b/items"),
    ],
)
def test_templates_compile_to_the_paths_they_describe(
    template: str, matching: str, not_matching: str
) -> None:
    pattern = re.compile(compile_template(template))
    assert pattern.fullmatch(matching) is not None
    assert pattern.fullmatch(not_matching) is None
