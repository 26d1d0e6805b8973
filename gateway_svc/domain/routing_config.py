"""Routing rules as written in settings: a compact string, or the same as JSON.

Compact form, rules separated by ``;``, blanks around tokens ignored::

    [<id>@]<merchant>:<currencies>:<method>=<provider>[,<provider>...]

    m_123:USD,EUR:card=stripe,authorizenet; *:INR:*=razorpay; eu@*:EUR:card=stripe

``*`` means any merchant, any currency or any method. A rule without ``<id>@`` is named by
its position (``rule1``, ``rule2`` ...), which is what logs and ``RoutingDecision.rule_id``
show. JSON form: a list of objects with the keys ``providers`` (required, a list) and
``id``, ``merchant``, ``currencies`` (a list or ``"*"``), ``method`` (all optional, default
``*`` and the positional id). Currency codes may be lower case; they are upper-cased.

Every error names the rule (by position and text) and what is wrong with it, because the
person reading it is an operator fixing an environment variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Literal

from .capabilities import MethodKind
from .providers import Provider
from .routing import ANY, RoutingRule

__all__ = ["RoutingConfigError", "format_rules", "parse_rules"]

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-.]+$")


class RoutingConfigError(ValueError):
    """Raised when routing rules in settings cannot be read; the message says where and why."""


def _provider(name: str, where: str) -> Provider:
    try:
        return Provider(name.strip().lower())
    except ValueError:
        known = ", ".join(p.value for p in Provider)
        raise RoutingConfigError(f"{where}: unknown provider {name!r} (known: {known})") from None


def _method(text: str, where: str) -> MethodKind | Literal["*"]:
    text = text.strip().lower()
    if text == ANY:
        return ANY
    try:
        return MethodKind(text)
    except ValueError:
        known = ", ".join(m.value for m in MethodKind)
        raise RoutingConfigError(f"{where}: unknown method {text!r} (known: {known}, *)") from None


def _currencies(items: Iterable[str], where: str) -> frozenset[str] | Literal["*"]:
    codes = [c.strip().upper() for c in items]
    if codes == [ANY]:
        return ANY
    if not codes or any(not c for c in codes):
        raise RoutingConfigError(f"{where}: empty currency in the list")
    return frozenset(codes)


def _merchant(text: str, where: str) -> str:
    text = text.strip()
    if text != ANY and not _TOKEN_RE.match(text):
        raise RoutingConfigError(f"{where}: bad merchant id {text!r}")
    return text


def _build(
    rule_id: str,
    merchant: str,
    currencies: frozenset[str] | Literal["*"],
    method: MethodKind | Literal["*"],
    providers: list[Provider],
    where: str,
) -> RoutingRule:
    # RoutingRule validates what is left (ISO codes, duplicate providers); its message is
    # re-raised with the rule's position so the operator knows which one.
    try:
        return RoutingRule(rule_id, tuple(providers), merchant, currencies, method)
    except ValueError as exc:
        raise RoutingConfigError(f"{where}: {exc}") from None


def _parse_compact_rule(text: str, index: int) -> RoutingRule:
    where = f"rule {index} ({text!r})"
    rule_id = f"rule{index}"
    if "@" in text:
        rule_id, _, text = text.partition("@")
        rule_id = rule_id.strip()
        if not _TOKEN_RE.match(rule_id):
            raise RoutingConfigError(f"{where}: bad rule id {rule_id!r}")
    scope, eq, providers = text.partition("=")
    if not eq:
        raise RoutingConfigError(f"{where}: expected '<scope>=<providers>'")
    parts = scope.split(":")
    if len(parts) != 3:
        raise RoutingConfigError(f"{where}: expected '<merchant>:<currencies>:<method>' scope")
    names = providers.split(",")
    if any(not n.strip() for n in names):
        raise RoutingConfigError(f"{where}: empty provider in the list")
    return _build(
        rule_id,
        _merchant(parts[0], where),
        _currencies(parts[1].split(","), where),
        _method(parts[2], where),
        [_provider(n, where) for n in names],
        where,
    )


def _str_list(value: object, key: str, where: str) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise RoutingConfigError(f"{where}: {key!r} must be a list of strings")


def _parse_json_rule(obj: object, index: int) -> RoutingRule:
    where = f"rule {index}"
    if not isinstance(obj, dict):
        raise RoutingConfigError(f"{where}: expected an object")
    unknown = set(obj) - {"id", "merchant", "currencies", "method", "providers"}
    if unknown:
        raise RoutingConfigError(f"{where}: unknown keys {sorted(unknown)}")
    if "providers" not in obj:
        raise RoutingConfigError(f"{where}: 'providers' is required")
    for key in ("id", "merchant", "method"):
        if not isinstance(obj.get(key, ""), str):
            raise RoutingConfigError(f"{where}: {key!r} must be a string")
    raw_currencies = obj.get("currencies", ANY)
    currencies = (
        ANY
        if raw_currencies == ANY
        else _currencies(_str_list(raw_currencies, "currencies", where), where)
    )
    return _build(
        str(obj.get("id", f"rule{index}")),
        _merchant(str(obj.get("merchant", ANY)), where),
        currencies,
        _method(str(obj.get("method", ANY)), where),
        [_provider(n, where) for n in _str_list(obj["providers"], "providers", where)],
        where,
    )


def parse_rules(text: str) -> tuple[RoutingRule, ...]:
    """Rules from the compact form or, when ``text`` starts with ``[`` or ``{``, from JSON."""
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RoutingConfigError(f"routing rules are not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise RoutingConfigError("routing rules JSON must be a list")
        return tuple(_parse_json_rule(obj, i) for i, obj in enumerate(items, start=1))
    chunks = [c.strip() for c in text.split(";")]
    return tuple(
        _parse_compact_rule(chunk, i) for i, chunk in enumerate((c for c in chunks if c), 1)
    )


def format_rules(rules: Iterable[RoutingRule]) -> str:
    """The compact form of ``rules``, with explicit ids; ``parse_rules`` reads it back."""

    def one(rule: RoutingRule) -> str:
        cur = ANY if rule.currencies == ANY else ",".join(sorted(rule.currencies))
        providers = ",".join(p.value for p in rule.providers)
        return f"{rule.id}@{rule.merchant_id}:{cur}:{rule.method}={providers}"

    return ";".join(one(r) for r in rules)
