"""The ``--explore`` rows: what would make authenticated REST reach 0.8x, and pass-through.

All on WhoAmI, the cheap read, where the cost of authorization shows most. Sections:

* ``a``: identity's gRPC Check as it is (whatever protocol the product's ext_authz uses now),
  with Envoy tuned around it (the other ``--concurrency``, ext_authz headers trimmed, a second
  Check process, a plaintext hop to Check, Envoy's default HTTP/2 windows on that hop);
* ``b``: the protocol's cost on the Python side: a dict lookup behind gRPC against the same
  lookup behind Envoy's HTTP ext_authz protocol, with and without TLS on that hop; and
  identity's own Authorizer served over HTTP;
* ``c``: jwt_authn (ES256, local JWKS), without and with ``jwt_cache_config``;
* ``p``: pass-through variants (more client connections, the other ``--concurrency``, no
  access log, no TLS to the service, one upstream connection per call in flight).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from bench import edge_envoy as ee
from bench import edge_variants as ev
from bench.edge_jwt import Signer
from bench.edge_plan import Edge, Row, direct_row, pass_row
from bench.edge_stack import Child, start_service, wait_ports
from scripts.envoy_config import AUTHZ_CLUSTER

JWT_LIFETIME_S = 900
"""A typical access-token lifetime: the revocation probe's token lives this long, which is
the revocation bound jwt_authn alone would give."""
LOAD_TOKEN_LIFETIME_S = 24 * 3600
"""The load rows' token must outlive the whole run (a long --explore run lasts longer than
JWT_LIFETIME_S); its lifetime costs nothing per request."""
PASS_CHANNELS = 16


@dataclass
class Explore:
    """The rows and what the revocation probe needs to know about them."""

    rows: list[Row]
    signer: Signer
    revocation: dict[str, int]
    """Row key -> the REST port of its Envoy, for the rows the probe checks."""


def _stub(edge: Edge, name: str, *args: str) -> Child:
    ports_file = edge.children.workdir / f"{name}.ports.json"
    ports_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "bench.edge_authz_stub", "--ports-file", str(ports_file), *args]
    child = edge.children.spawn(name, argv)
    child.ports = wait_ports(child, ports_file, ("port",))
    return child


def _rest_row(edge: Edge, key: str, section: str, envoy: ee.RunningEnvoy, path: str,
              aux: list[int] | None = None, token: str = "", note: str = "") -> Row:  # fmt: skip
    return Row(key, "WhoAmI", path, edge.rest(envoy, "/v1/me", token),
               edge.groups(envoy, aux=aux or []), section, note)  # fmt: skip


def _baseline(edge: Edge, section: str) -> Row:
    """REST without authorization (row 1.2's Envoy) again, at the head of ``section``: its
    rows are compared with it run by run, minutes apart at most, not with row 1.2."""
    noauth = edge.envoys["envoy-noauth"]
    return _rest_row(edge, f"{section}0-noauth", section, noauth,
                     "no authorization (baseline, as 1.2)")  # fmt: skip


def tuned_rows(edge: Edge, other_concurrency: int) -> list[Row]:
    """Section a: identity's gRPC Check (its key cache) as it is, Envoy around it tuned."""
    hot = edge.stack.grpc_check_addr()
    check = ev.grpc_check([hot])
    grpc = edge.envoy("envoy-grpc-check", check)
    other = edge.envoy("envoy-grpc-check-c", check, concurrency=other_concurrency)
    other_noauth = edge.envoy("envoy-noauth-c", ee.fixed_principal(edge.data.principal()),
                              concurrency=other_concurrency)  # fmt: skip
    trimmed = edge.envoy("envoy-grpc-check-trim", check, ev.trim_check_headers)
    second = start_service(edge.children, edge.stack, "identity-check-2", "identity",
                           plaintext=False)  # fmt: skip
    two = edge.envoy("envoy-grpc-check-2", ev.grpc_check([hot, f"127.0.0.1:{second.ports['hot']}"]))
    windows = edge.envoy("envoy-grpc-check-windows", check,
                         ev.envoy_default_windows(AUTHZ_CLUSTER))  # fmt: skip
    twin = edge.twin("identity")
    plain = edge.envoy(
        "envoy-grpc-check-plain", ev.grpc_check([f"127.0.0.1:{twin.ports['hot']}"], tls=False)
    )
    c = f"--concurrency {other_concurrency}"
    return [
        _baseline(edge, "a"),
        _rest_row(edge, "a0", "a", grpc, "ext_authz gRPC -> identity's Check, mTLS",
                  note="identity's own gRPC Check listener (IDENTITY_AUTHZ_LISTEN_ADDR)"),
        _rest_row(edge, "a1", "a", other, f"as a0, Envoy {c}"),
        _rest_row(edge, "a1-noauth", "a", other_noauth, f"no authorization, Envoy {c}"),
        _rest_row(edge, "a2", "a", trimmed, "as a0, allowed_headers trimmed",
                  note="CheckRequest carries only " + ", ".join(ev.CHECK_HEADERS)),
        _rest_row(edge, "a3", "a", two, "as a0, 2 Check processes", [second.pid],
                  note="a second identity process (mTLS) in the identity_authz cluster"),
        _rest_row(edge, "a4", "a", plain, "as a0, Check hop in plaintext", [twin.pid],
                  note="identity_authz = the plaintext identity twin's Check listener"),
        _rest_row(edge, "a5", "a", windows, "as a0, Check cluster's HTTP/2 windows at Envoy's "
                  "defaults", note="256 MiB instead of 1 MiB / 4 MiB"),
    ]  # fmt: skip


def protocol_rows(edge: Edge) -> list[Row]:
    """Section b: gRPC against HTTP for the Check, the same dict lookup behind each."""
    tokens = edge.children.workdir / "stub-tokens.json"
    tokens.write_text(json.dumps({f"Bearer {edge.data.token}": edge.data.principal()}))
    rows = [_baseline(edge, "b")]
    for key, mode, tls in (("b1", "grpc", False), ("b2", "grpc", True),
                           ("b3", "http", False), ("b4", "http", True)):  # fmt: skip
        name = f"stub-{mode}-{'tls' if tls else 'plain'}"
        pki = ["--pki", str(edge.stack.pki)] if tls else []
        stub = _stub(edge, name, "--mode", mode, "--tokens", str(tokens), *pki)
        addr = f"127.0.0.1:{stub.ports['port']}"
        make = ev.grpc_stub if mode == "grpc" else ev.http_stub
        envoy = edge.envoy(f"envoy-{name}", make(addr, tls=tls))
        hop = "mTLS" if tls else "plaintext"
        title = f"ext_authz {'gRPC' if mode == 'grpc' else 'HTTP'} -> dict stub, {hop}"
        rows.append(_rest_row(edge, key, "b", envoy, title, [stub.pid]))
    identity = _stub(edge, "check-http-identity", "--mode", "http-identity",
                     "--database-url", edge.stack.database("identity"),
                     "--pepper-file", str(edge.stack.var_dir / "identity" / "pepper"),
                     "--pki", str(edge.stack.pki))  # fmt: skip
    envoy = edge.envoy(
        "envoy-http-identity", ev.http_stub(f"127.0.0.1:{identity.ports['port']}", tls=True)
    )
    rows.append(_rest_row(edge, "b5", "b", envoy, "ext_authz HTTP -> identity's Authorizer, mTLS",
                          [identity.pid], note="identity's key cache, limits and usage, "
                          "served by bench.edge_authz_http instead of grpc.aio"))  # fmt: skip
    return rows


def jwt_rows(edge: Edge, signer: Signer) -> list[Row]:
    """Section c: jwt_authn verifying an ES256 token inside Envoy, no Python on the path."""
    token = signer.token(edge.data.key_id, edge.data.principal(), LOAD_TOKEN_LIFETIME_S)
    rows = [_baseline(edge, "c")]
    for key, cache in (("c1", False), ("c2", True)):
        envoy = edge.envoy(
            f"envoy-jwt{'-cache' if cache else ''}", ev.jwt(signer.jwks(), cache=cache)
        )
        title = f"jwt_authn ES256{' + jwt_cache_config' if cache else ''}"
        rows.append(_rest_row(edge, key, "c", envoy, title, token=token,
                              note="token signed by the bench; local_jwks"))  # fmt: skip
    return rows


def pass_rows(edge: Edge, other_concurrency: int) -> list[Row]:
    """Section p: what moves the pass-through against direct calls (WhoAmI, API key)."""
    twin = edge.twin("identity")
    plain = edge.envoy(
        "envoy-plain-upstream", ev.plain_upstream("identity", f"127.0.0.1:{twin.ports['grpc']}")
    )
    other = edge.envoy("envoy-product-c", concurrency=other_concurrency)
    nolog = edge.envoy("envoy-nolog", ee.without_access_log)
    spread = edge.envoy("envoy-spread", ev.streams_per_connection("identity", 1))
    product = edge.envoy("envoy-product")
    n, many = edge.channels, PASS_CHANNELS
    return [
        direct_row(edge, "p0-direct", "WhoAmI", n, "p", "baseline of p2-p5"),
        pass_row(edge, "p1", "WhoAmI", product, many, "p", f"{many} client channels"),
        direct_row(edge, "p1-direct", "WhoAmI", many, "p", f"{many} client channels"),
        pass_row(edge, "p2", "WhoAmI", other, n, "p", f"Envoy --concurrency {other_concurrency}"),
        pass_row(edge, "p3", "WhoAmI", nolog, n, "p", "access log off"),
        pass_row(edge, "p4", "WhoAmI", plain, n, "p", "Envoy -> plaintext identity twin, no "
                 "upstream TLS", identity=[twin.pid]),
        pass_row(edge, "p5", "WhoAmI", spread, n, "p", "upstream max_concurrent_streams 1: "
                 "one connection to identity per call in flight"),
    ]  # fmt: skip


def build_explore(edge: Edge, other_concurrency: int) -> Explore:
    signer = Signer.generate()
    rows = tuned_rows(edge, other_concurrency) + protocol_rows(edge) + jwt_rows(edge, signer)
    rows += pass_rows(edge, other_concurrency)
    ports = {"1.1": edge.envoys["envoy-product"].rest_port,
             "a0": edge.envoys["envoy-grpc-check"].rest_port,
             "b5": edge.envoys["envoy-http-identity"].rest_port,
             "c2": edge.envoys["envoy-jwt-cache"].rest_port}  # fmt: skip
    return Explore(rows, signer, ports)
