"""Which RPC a request is for, and what access it declares, read from the protos.

Envoy's ext_authz runs before the JSON transcoder, so the edge sees REST
requests (``GET /v1/api-keys/abc``) as well as gRPC ones
(``POST /paymesh.identity.v1.IdentityService/GetApiKey``). The table compiles
each method's ``google.api.http`` bindings (additional_bindings included) with
the grammar of google/api/http.proto:

    Template = "/" Segments [ Verb ] ;   Segment = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;

A ``:`` in a path always starts the verb, so ``{key_id}`` never swallows
``:rotate`` and variables never contain a colon.

Access comes from the ``paymesh.auth.v1`` method options. Anything but exactly
one valid option is UNDECLARED, which the authorizer refuses (fail closed).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import paymesh
from identity_svc.domain.permissions import Permission
from identity_svc.service_layer.authorizer import (
    ANY_AUTHENTICATED,
    PUBLIC,
    UNDECLARED,
    Access,
    MethodRoute,
)
from paymesh.auth.v1 import auth_pb2

if TYPE_CHECKING:
    from google.protobuf.internal.extension_dict import _ExtensionFieldDescriptor

# googleapis-common-protos types the extension as a plain FieldDescriptor.
_HTTP = cast(
    "_ExtensionFieldDescriptor[descriptor_pb2.MethodOptions, http_pb2.HttpRule]",
    annotations_pb2.http,
)
_VERBS = ("get", "put", "post", "delete", "patch")
_SEGMENT = r"[^/:]+"  # one path segment; a colon belongs to the verb
_PERMISSIONS = {p.value: p for p in Permission}


def method_access(method: MethodDescriptor) -> Access:
    """The access ``method`` declares: exactly one paymesh option, or UNDECLARED."""
    options = method.GetOptions()
    declared: list[Access] = []
    if options.HasExtension(auth_pb2.required_permission):
        name = options.Extensions[auth_pb2.required_permission]
        declared.append(_PERMISSIONS.get(name, UNDECLARED))
    if options.HasExtension(auth_pb2.any_authenticated):
        if options.Extensions[auth_pb2.any_authenticated]:
            declared.append(ANY_AUTHENTICATED)
        else:
            declared.append(UNDECLARED)  # an explicit "false" declares nothing
    if options.HasExtension(auth_pb2.public):
        declared.append(PUBLIC if options.Extensions[auth_pb2.public] else UNDECLARED)
    return declared[0] if len(declared) == 1 else UNDECLARED


def full_method(method: MethodDescriptor) -> str:
    """The gRPC path: ``/paymesh.identity.v1.IdentityService/WhoAmI``."""
    return f"/{method.containing_service.full_name}/{method.name}"


def paymesh_services() -> list[ServiceDescriptor]:
    """Every service in the generated ``paymesh`` package, except vendored third-party ones."""
    services: list[ServiceDescriptor] = []
    for info in pkgutil.walk_packages(paymesh.__path__, "paymesh."):
        name = info.name
        if name.startswith("paymesh.third_party") or not name.endswith("_pb2"):
            continue
        module = importlib.import_module(name)
        services.extend(module.DESCRIPTOR.services_by_name.values())
    return sorted(services, key=lambda s: s.full_name)


def list_methods(services: Iterable[ServiceDescriptor]) -> list[MethodRoute]:
    """Every method of ``services`` with the access it declares (for the completeness test)."""
    return [MethodRoute(full_method(m), method_access(m)) for s in services for m in s.methods]


@dataclass(frozen=True, slots=True)
class _Binding:
    http_method: str
    template: str
    route: MethodRoute


def _bindings(method: MethodDescriptor, route: MethodRoute) -> Iterator[_Binding]:
    options = method.GetOptions()
    if not options.HasExtension(_HTTP):
        return
    rule = options.Extensions[_HTTP]
    for one in (rule, *rule.additional_bindings):
        yield from _rule_bindings(one, route)


def _rule_bindings(rule: http_pb2.HttpRule, route: MethodRoute) -> Iterator[_Binding]:
    kind = rule.WhichOneof("pattern")
    if kind in _VERBS:
        yield _Binding(kind.upper(), getattr(rule, kind), route)
    elif kind == "custom":
        yield _Binding(rule.custom.kind.upper(), rule.custom.path, route)


def compile_template(template: str) -> str:
    """The regex body (no anchors, no capturing groups) matching a path template."""
    if not template.startswith("/"):
        raise ValueError(f"path template {template!r} must start with '/'")
    body, verb = template, ""
    last = template.rfind(":")
    if last > template.rfind("}") and last > template.rfind("/"):
        body, verb = template[:last], template[last:]
    parts: list[str] = []
    for segment in _split_segments(body[1:]):
        if segment.startswith("{"):
            inner = segment[1:-1]
            _, _, sub = inner.partition("=")
            parts.extend(_segment_regex(s) for s in (sub or "*").split("/"))
        else:
            parts.append(_segment_regex(segment))
    regex = "".join(p if p.startswith("(?:/") else "/" + p for p in parts)
    return regex + re.escape(verb)


def _split_segments(body: str) -> list[str]:
    """Split on '/' outside braces: ``{name=shelves/*}`` is one variable."""
    segments, depth, start = [], 0, 0
    for i, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(body[start:i])
            start = i + 1
    segments.append(body[start:])
    if depth != 0 or any(not s for s in segments):
        raise ValueError(f"malformed path template segment list {body!r}")
    return segments


def _segment_regex(segment: str) -> str:
    if segment == "*":
        return _SEGMENT
    if segment == "**":
        return f"(?:/{_SEGMENT})*"  # zero or more whole segments, slash included
    if any(c in segment for c in "{}*:"):
        raise ValueError(f"unsupported path template segment {segment!r}")
    return re.escape(segment)


class RouteTable:
    """Looks up (HTTP method, path) -> MethodRoute. Built once at start-up."""

    def __init__(self, services: Iterable[ServiceDescriptor]) -> None:
        # method -> path -> route: literal templates and gRPC paths, one dict hit.
        self._literal: dict[str, dict[str, MethodRoute]] = {}
        templated: dict[str, list[tuple[str, MethodRoute, tuple[int, int]]]] = {}
        for service in services:
            for method in service.methods:
                route = MethodRoute(full_method(method), method_access(method))
                self._literal.setdefault("POST", {})[route.full_method] = route
                for binding in _bindings(method, route):
                    self._add(binding, templated)
        # method -> one alternation of every template; a marker group per
        # alternative names the route that matched (Match.lastgroup).
        self._patterns: dict[str, tuple[re.Pattern[str], dict[str, MethodRoute]]] = {}
        for http_method, entries in templated.items():
            # Most literal segments first, so /a/{x}/b wins over /a/{x=**}.
            entries.sort(key=lambda entry: entry[2], reverse=True)
            alternatives, names = [], {}
            for i, (regex, route, _) in enumerate(entries):
                alternatives.append(f"{regex}(?P<r{i}>)")
                names[f"r{i}"] = route
            self._patterns[http_method] = (re.compile(f"(?:{'|'.join(alternatives)})"), names)

    def _add(
        self,
        binding: _Binding,
        templated: dict[str, list[tuple[str, MethodRoute, tuple[int, int]]]],
    ) -> None:
        template = binding.template
        if not any(c in template for c in "{*"):
            self._literal.setdefault(binding.http_method, {})[template] = binding.route
            return
        segments = template.split("/")
        rank = (sum("{" not in s and "*" not in s for s in segments), -template.count("**"))
        entry = (compile_template(template), binding.route, rank)
        templated.setdefault(binding.http_method, []).append(entry)

    @classmethod
    def for_paymesh(cls) -> RouteTable:
        """The table of every paymesh service."""
        return cls(paymesh_services())

    def lookup(self, method: str, path: str) -> MethodRoute | None:
        """The RPC for ``method`` and ``path``; a query string, if any, is ignored."""
        if "?" in path:
            path = path.partition("?")[0]
        literal = self._literal.get(method)
        if literal is not None:
            route = literal.get(path)
            if route is not None:
                return route
        compiled = self._patterns.get(method)
        if compiled is None:
            return None
        match = compiled[0].fullmatch(path)
        if match is None:
            return None
        name = match.lastgroup
        assert name is not None  # every alternative ends in its marker group
        return compiled[1][name]
