"""Stripe's form encoding read into nested values, and the checks Stripe makes on them.

Stripe bodies are ``application/x-www-form-urlencoded`` with bracketed nesting:
``metadata[order]=42`` is a hash, ``expand[]=a&expand[]=b`` or ``expand[0]=a`` a list.
``nest`` turns the pairs into dicts and lists; the ``get_*`` helpers refuse a value the way
Stripe does (``parameter_missing``, ``parameter_invalid_integer``, ``parameter_unknown`` ...,
each naming the parameter in ``param``), raising ``StripeError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from sandbox.stripe.errors import invalid, missing, unknown_param

Params = dict[str, Any]
"""A parsed request: str values, nested dicts for hashes, lists for arrays."""

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


def parse_pairs(body: bytes) -> list[tuple[str, str]]:
    """The body's key/value pairs in order (repeated keys kept)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("Invalid request: the body is not valid UTF-8.") from None
    return parse_qsl(text, keep_blank_values=True)


def nest(pairs: Iterable[tuple[str, str]]) -> Params:
    """Bracketed keys as nested dicts and lists; a key used both ways is refused."""
    root: Params = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = root
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise invalid(f"Invalid hash: {'.'.join(path[: depth + 1])}", param=key)
            if path[depth + 1] == "":
                # `a[]` appends: give each element the next index so `_listify` orders them.
                path[depth + 1] = str(len(child))
            node = child
        last = path[-1]
        if isinstance(node.get(last), dict):
            raise invalid(f"Invalid string: {key} is a hash", param=key)
        node[last] = value
    return _listify(root)


def _listify(node: Params) -> Params:
    for key, value in node.items():
        if isinstance(value, dict):
            value = _listify(value)
            if value and all(k.isdigit() for k in value):
                node[key] = [value[k] for k in sorted(value, key=int)]
            else:
                node[key] = value
    return node


def check_known(params: Params, allowed: frozenset[str], prefix: str = "") -> None:
    """Refuse the first parameter the endpoint does not take (Stripe names it)."""
    for name in params:
        if name not in allowed:
            raise unknown_param(f"{prefix}[{name}]" if prefix else name)


def get_str(params: Params, name: str, *, required: bool = False, label: str = "") -> str | None:
    """A string parameter; a hash or list where a string belongs is refused."""
    value = params.get(name)
    shown = label or name
    if value is None:
        if required:
            raise missing(shown)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {shown} must be a string", param=shown)
    return value


def get_int(params: Params, name: str, *, required: bool = False, label: str = "") -> int | None:
    """An integer parameter, as Stripe parses it (optional sign, digits only)."""
    shown = label or name
    value = get_str(params, name, required=required, label=shown)
    if value is None:
        return None
    digits = value[1:] if value[:1] in "+-" else value
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        raise invalid(f"Invalid integer: {value}", param=shown, code="parameter_invalid_integer")
    return int(value)


def get_bool(params: Params, name: str) -> bool | None:
    """A boolean parameter: exactly ``true`` or ``false``."""
    value = get_str(params, name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise invalid(f"Invalid boolean: {value}", param=name)
    return value == "true"


def get_enum(params: Params, name: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices``, with Stripe's "must be one of" message otherwise."""
    value = get_str(params, name)
    if value is None or value in choices:
        return value
    listed = ", ".join(choices[:-1]) + f", or {choices[-1]}" if len(choices) > 1 else choices[0]
    raise invalid(f"Invalid {name}: must be one of {listed}", param=name)


def get_hash(params: Params, name: str) -> Params | None:
    """A hash parameter (``name[key]=...``)."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        if value == "":
            return {}  # Stripe's way of sending an empty hash
        raise invalid(f"Invalid object: {name} must be a hash", param=name)
    return value


def get_expand(params: Params) -> list[str]:
    """The ``expand`` list (``expand[]=a`` or ``expand[0]=a``)."""
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise invalid("Invalid array: expand must be an array of strings", param="expand")


def get_metadata(params: Params, *, keep_empty: bool = False) -> dict[str, str]:
    """``metadata[k]=v`` within Stripe's limits; an empty value unsets a key, so it is kept
    only for an update (``keep_empty``)."""
    raw = get_hash(params, "metadata")
    if raw is None:
        return {}
    if len(raw) > METADATA_MAX_KEYS:
        raise invalid(
            f"Invalid metadata: metadata cannot have more than {METADATA_MAX_KEYS} keys",
            param="metadata",
        )
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        label = f"metadata[{key}]"
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {label} must be a string", param=label)
        if len(key) > METADATA_KEY_MAX:
            raise invalid(
                f"Invalid metadata: metadata keys must be at most {METADATA_KEY_MAX} characters",
                param=label,
            )
        if len(value) > METADATA_VALUE_MAX:
            raise invalid(
                "Invalid metadata: metadata values must be at most "
                f"{METADATA_VALUE_MAX} characters",
                param=label,
            )
        if value or keep_empty:
            metadata[key] = value
    return metadata


def query_params(query: Mapping[str, str]) -> Params:
    """A GET request's query string, nested the same way as a body."""
    return nest(query.items())
