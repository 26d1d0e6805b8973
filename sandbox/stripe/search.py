"""``GET /v1/payment_intents/search``: a subset of Stripe's Search Query Language.

Supported, as Stripe writes them (https://stripe.com/docs/search#search-query-language):
clauses ``field:value`` (exact), ``field>value`` / ``>=`` / ``<`` / ``<=`` (numbers), a leading
``-`` to negate, joined all by ``AND`` or all by ``OR`` (Stripe refuses a mix too). Fields:
``metadata['key']`` (or with double quotes), ``status``, ``currency``, ``amount``, ``created``.
Values are quoted strings (backslash escapes a quote) or bare integers.

Unlike real Stripe, whose search index lags writes by up to a minute, the sandbox finds an
intent as soon as it exists; the gateway adapter's docstring says what that means for lookup.
A metadata clause is answered from an index, so lookups stay cheap as the store grows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.stripe.errors import StripeError, invalid
from sandbox.stripe.model import Intent, Store
from sandbox.stripe.params import Params, check_known, get_expand, get_int, get_str
from sandbox.stripe.render import Json, check_expand, expand, intent_json

_CLAUSE = re.compile(
    r"""^(?P<neg>-)?
    (?P<field>metadata\[(?P<q>['"])(?P<key>(?:\\.|(?!(?P=q)).)+)(?P=q)\]|[a-z_]+)
    (?P<op>:|>=|<=|>|<)
    (?P<value>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|-?[0-9]+)$""",
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)")
_NUMERIC = frozenset({"amount", "created"})
_TEXT = frozenset({"status", "currency"})
_JOINERS = (" AND ", " OR ")
_FIELDS = frozenset({"query", "limit", "page", "expand"})
_PAGE = re.compile(r"^page_([0-9]{1,9})$")
_LIMIT_MAX = 100
URL = "/v1/payment_intents/search"


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``field op value`` test."""

    field: str
    key: str
    op: str
    value: str
    negated: bool

    def matches(self, intent: Intent) -> bool:
        """Whether ``intent`` satisfies the clause."""
        return self._test(intent) != self.negated

    def _test(self, intent: Intent) -> bool:
        if self.field == "metadata":
            return intent.metadata.get(self.key) == self.value
        if self.field in _TEXT:
            return str(getattr(intent, self.field)) == self.value
        actual = int(getattr(intent, self.field))
        wanted = int(self.value)
        return {
            ":": actual == wanted,
            ">": actual > wanted,
            ">=": actual >= wanted,
            "<": actual < wanted,
            "<=": actual <= wanted,
        }[self.op]


def _syntax_error(detail: str) -> StripeError:
    return invalid(
        f"We were unable to parse your search query ({detail}). Try using the format "
        "`metadata['key']:'value'` to query for metadata or `key:'value'` to query for "
        "other fields.",
        param="query",
    )


def parse(query: str) -> tuple[list[Clause], bool]:
    """The clauses of ``query`` and whether they are OR-ed (else AND-ed)."""
    parts, joiners = _split(query.strip())
    if len(joiners) > 1:
        raise _syntax_error("AND and OR cannot be combined")
    clauses = [_clause(part) for part in parts]
    return clauses, joiners == {" OR "}


def _split(query: str) -> tuple[list[str], set[str]]:
    parts: list[str] = []
    joiners: set[str] = set()
    start, quote, i = 0, "", 0
    while i < len(query):
        char = query[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            joiner = next((j for j in _JOINERS if query.startswith(j, i)), None)
            if joiner is not None:
                parts.append(query[start:i].strip())
                joiners.add(joiner)
                i += len(joiner)
                start = i
                continue
        i += 1
    parts.append(query[start:].strip())
    return parts, joiners


def _clause(text: str) -> Clause:
    match = _CLAUSE.match(text)
    if match is None:
        raise _syntax_error(f"cannot read {text!r}")
    field, op, raw = match.group("field"), match.group("op"), match.group("value")
    key = ""
    if field.startswith("metadata["):
        key, field = _ESCAPE.sub(r"\1", match.group("key")), "metadata"
    elif field not in _NUMERIC | _TEXT:
        raise invalid(
            f"Field `{field}` is an unsupported search field for resource `payment_intents`.",
            param="query",
        )
    quoted = raw[:1] in "'\""
    value = _ESCAPE.sub(r"\1", raw[1:-1]) if quoted else raw
    if field in _NUMERIC and quoted:
        raise _syntax_error(f"{field} takes a number")
    if field not in _NUMERIC and (not quoted or op != ":"):
        raise _syntax_error(f"{field} takes a quoted value and ':'")
    return Clause(field, key, op, value, match.group("neg") is not None)


def run(store: Store, clauses: list[Clause], any_of: bool) -> list[Intent]:
    """Every intent matching, newest first."""
    candidates: Iterable[Intent]
    indexed = [c for c in clauses if c.field == "metadata" and not c.negated]
    if indexed and not any_of:
        first = indexed[0]
        ids = store.by_metadata.get((first.key, first.value), [])
        candidates = (store.intents[i] for i in reversed(ids))
    else:
        candidates = reversed(store.intents.values())
    test = any if any_of else all
    return [intent for intent in candidates if test(c.matches(intent) for c in clauses)]


def reply(store: Store, params: Params) -> tuple[int, Json]:
    """The ``search_result`` page for ``query`` (``limit`` 1..100, default 10; ``page``)."""
    check_known(params, _FIELDS)
    query = get_str(params, "query", required=True) or ""
    limit = get_int(params, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= _LIMIT_MAX:
        raise invalid(f"Invalid limit: must be between 1 and {_LIMIT_MAX}", param="limit")
    page = get_str(params, "page")
    offset = 0
    if page is not None:
        match = _PAGE.match(page)
        if match is None:
            raise invalid("Invalid page: not a page token from a previous search", param="page")
        offset = int(match.group(1))
    paths = get_expand(params)
    check_expand(paths, "payment_intent", listed=True)
    clauses, any_of = parse(query)
    found = run(store, clauses, any_of)
    end = offset + limit
    more = len(found) > end
    body: Json = {
        "object": "search_result",
        "data": [intent_json(intent, store) for intent in found[offset:end]],
        "has_more": more,
        "next_page": f"page_{end}" if more else None,
        "url": URL,
    }
    return 200, expand(body, paths, store)
