"""The edge bench's rows: what each one drives, through what, and how it is measured.

A row is one way to make one read (identity's WhoAmI, or the ledger's GetAccount by id) with
one load generator: h2load for HTTP (REST through Envoy, or gRPC in plaintext to a service's
plaintext twin), the Python client ``bench.edge_grpcload`` wherever a client certificate is
needed. ``build_main`` makes the rows of the issue's table; ``bench.edge_explore`` the
``--explore`` ones. Every row reads the CPU of the same process groups, so their columns
compare: Envoy, identity, the ledger, auxiliary servers, the load generator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import edge_envoy as ee
from bench import edge_load as el
from bench.edge_data import BenchData
from bench.edge_stack import Child, Children, Stack, start_service
from paymesh.ledger.v1 import ledger_pb2

WHOAMI = "/paymesh.identity.v1.IdentityService/WhoAmI"
GET_ACCOUNT = "/paymesh.ledger.v1.LedgerService/GetAccount"
GROUPS = ("envoy", "identity", "ledger", "aux")


@dataclass(frozen=True)
class H2load:
    """h2load against ``url``; ``metrics`` (port, method) counts gRPC codes h2load cannot see."""

    url: str
    headers: Mapping[str, str]
    data_file: Path | None = None
    metrics: tuple[int, str] | None = None


@dataclass(frozen=True)
class GrpcLoad:
    """The Python gRPC client: ``tls`` is (CA, certificate, key), or None for plaintext."""

    target: str
    method: str
    request: bytes
    metadata: Mapping[str, str]
    tls: tuple[Path, Path, Path] | None
    channels: int


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    key: str
    rpc: str
    path: str
    load: H2load | GrpcLoad
    groups: Mapping[str, list[int]]
    section: str = "main"
    note: str = ""

    @property
    def tool(self) -> str:
        if isinstance(self.load, H2load):
            return "h2load"
        return f"grpc.aio x{self.load.channels}ch"


def measure(row: Row, budget: el.Budget, connections: int) -> el.Run:
    """One run of ``row``, with the CPU of its process groups."""
    load = row.load
    before = el.grpc_codes(*load.metrics) if isinstance(load, H2load) and load.metrics else None
    window = el.CpuWindow(row.groups)
    if isinstance(load, H2load):
        run = window.close(el.h2load(load.url, load.headers, budget, connections, load.data_file))
    else:
        run, own_cpu_s = el.grpcload(
            load.target, load.method, load.request, budget, concurrency=connections,
            channels=load.channels, metadata=load.metadata, tls=load.tls,
        )  # fmt: skip
        run = window.close(run, own_cpu_s)
    if before is not None and isinstance(load, H2load) and load.metrics:
        # A gRPC error is an HTTP 200 with grpc-status in the trailers: h2load counts it as
        # a success, so the service's own counters decide.
        delta = el.grpc_codes(*load.metrics) - before
        run.ok = min(run.ok, delta.pop("OK", 0))
        # h2load resets the streams still in flight when its duration ends: the service
        # counts those CANCELLED, and they are no failure.
        delta["CANCELLED"] -= min(delta["CANCELLED"], run.cut)
        run.errors.update({f"grpc {code}": n for code, n in delta.items() if n})
    return run


@dataclass
class Edge:
    """What rows are built from: the stack, the bench's data, its Envoys and extra servers."""

    children: Children
    stack: Stack
    data: BenchData
    concurrency: int
    channels: int
    base: dict[str, Any] = field(default_factory=dict)
    envoys: dict[str, ee.RunningEnvoy] = field(default_factory=dict)
    twins: dict[str, Child] = field(default_factory=dict)

    def envoy(self, name: str, *transforms: ee.Transform, concurrency: int = 0) -> ee.RunningEnvoy:
        """The Envoy ``name`` (started on first use): the product config plus ``transforms``."""
        if name not in self.envoys:
            config = ee.variant(self.base, *transforms)
            self.envoys[name] = ee.start_envoy(
                self.children, name, config, concurrency or self.concurrency
            )
        return self.envoys[name]

    def twin(self, service: str) -> Child:
        """A plaintext twin of ``service`` on the same database (started on first use)."""
        if service not in self.twins:
            name = f"{service}-plaintext"
            self.twins[service] = start_service(
                self.children, self.stack, name, service, plaintext=True
            )
        return self.twins[service]

    def groups(
        self,
        envoy: ee.RunningEnvoy | None = None,
        *,
        identity: list[int] | None = None,
        ledger: list[int] | None = None,
        aux: list[int] | None = None,
    ) -> dict[str, list[int]]:
        """The CPU groups of a row: the stack's replicas unless others serve the RPC."""
        return {
            "envoy": [envoy.pid] if envoy else [],
            "identity": identity or [self.stack.pid("identity")],
            "ledger": ledger or [self.stack.pid("ledger")],
            "aux": aux or [],
        }

    def mtls(self, workload: str) -> tuple[Path, Path, Path]:
        pki = self.stack.pki
        return pki / "ca.pem", pki / f"{workload}.pem", pki / f"{workload}-key.pem"

    def rest(self, envoy: ee.RunningEnvoy, path: str, token: str = "") -> H2load:
        url = f"https://127.0.0.1:{envoy.rest_port}{path}"
        return H2load(url, {"authorization": f"Bearer {token or self.data.token}"})


def _request(rpc: str, data: BenchData) -> bytes:
    if rpc == "GetAccount":
        return ledger_pb2.GetAccountRequest(account_id=data.account_id).SerializeToString()
    return b""  # WhoAmIRequest has no field


def _direct_rows(edge: Edge, rpc: str, method: str, service: str, num: str) -> list[Row]:
    """The service without Envoy: h2load in plaintext to its twin, and the Python client
    over mTLS (presenting Envoy's certificate: the services admit no other)."""
    twin = edge.twin(service)
    request = _request(rpc, edge.data)
    frame = edge.children.workdir / f"{rpc}.grpc"
    frame.write_bytes(el.grpc_frame(request))
    headers = {"content-type": "application/grpc", "te": "trailers"}
    metadata = {}
    if service == "identity":  # the principal Envoy would have set; believed from Envoy only
        headers[ee.PRINCIPAL_HEADER] = metadata[ee.PRINCIPAL_HEADER] = edge.data.principal()
    url = f"http://127.0.0.1:{twin.ports['grpc']}{method}"
    replica = edge.stack.replica(service)
    grpc_load = GrpcLoad(f"127.0.0.1:{replica['grpc']}", method, request, metadata,
                         edge.mtls("envoy"), edge.channels)  # fmt: skip
    return [
        Row(f"{num}a", rpc, "direct gRPC, plaintext twin (no TLS)",
            H2load(url, headers, frame, (twin.ports["metrics"], method)),
            edge.groups(identity=[twin.pid]) if service == "identity"
            else edge.groups(ledger=[twin.pid]),
            note="h2c to a second process of the service with PLAINTEXT=true on the same "
                 "database: skips TLS, which every other row pays"),
        Row(f"{num}b", rpc, "direct gRPC, mTLS", grpc_load, edge.groups(),
            note="Python client presenting Envoy's certificate"),
    ]  # fmt: skip


def build_main(edge: Edge) -> list[Row]:
    """Rows 1-5 of the issue: REST with and without authorization, direct, pass-through."""
    product = edge.envoy("envoy-product")
    protocol = ee.authz_protocol(edge.base)
    noauth = edge.envoy("envoy-noauth", ee.fixed_principal(edge.data.principal()))
    account = f"/v1/ledger/accounts/{edge.data.account_id}"
    rows: list[Row] = []
    for num, rpc, path, method, service in (
        ("1", "WhoAmI", "/v1/me", WHOAMI, "identity"),
        ("4", "GetAccount", account, GET_ACCOUNT, "ledger"),
    ):
        rows += [
            Row(f"{num}.1", rpc, f"REST via Envoy, ext_authz {protocol} (product)",
                edge.rest(product, path), edge.groups(product)),
            Row(f"{num}.2", rpc, "REST via Envoy, no authorization",
                edge.rest(noauth, path), edge.groups(noauth),
                note="ext_authz removed; Envoy sets a fixed x-paymesh-principal"),
            *_direct_rows(edge, rpc, method, service, f"{num}.3"),
        ]  # fmt: skip
    # GetAccount is the read, and 4.3b is its direct call with the same client.
    # WhoAmI is added because it is cheap, so Envoy's share of a pass-through shows.
    return [
        *rows,
        pass_row(edge, "5a", "GetAccount", product, edge.channels),
        pass_row(edge, "5b", "WhoAmI", product, edge.channels),
        direct_row(edge, "5b-direct", "WhoAmI", edge.channels),
    ]


_PASS_RPCS = {"GetAccount": (GET_ACCOUNT, "ledger"), "WhoAmI": (WHOAMI, "identity")}


def _pass_load(edge: Edge, rpc: str, target: str, workload: str, channels: int) -> GrpcLoad:
    """``rpc`` as a workload calls it over mTLS: WhoAmI with the API key as metadata (no
    principal comes from the edge on this path, so identity authenticates the key itself)."""
    method, service = _PASS_RPCS[rpc]
    metadata = {"authorization": f"Bearer {edge.data.token}"} if service == "identity" else {}
    request = _request(rpc, edge.data)
    return GrpcLoad(target, method, request, metadata, edge.mtls(workload), channels)


def direct_row(
    edge: Edge, key: str, rpc: str, channels: int, section: str = "main", note: str = ""
) -> Row:
    """``rpc`` straight to the stack's replica, as the pass-through rows call it."""
    replica = edge.stack.replica(_PASS_RPCS[rpc][1])
    load = _pass_load(edge, rpc, f"127.0.0.1:{replica['grpc']}", "envoy", channels)
    path = f"gRPC direct, same client{f' ({note})' if note else ''}"
    return Row(key, rpc, path, load, edge.groups(), section, "Envoy's certificate")


def pass_row(
    edge: Edge,
    key: str,
    rpc: str,
    envoy: ee.RunningEnvoy,
    channels: int,
    section: str = "main",
    note: str = "",
    identity: list[int] | None = None,
) -> Row:
    """``rpc`` through ``envoy``'s internal listener, with the dev PKI's client certificate.

    ``identity`` names the process serving identity behind ``envoy`` when it is not the
    stack's replica.
    """
    load = _pass_load(edge, rpc, f"127.0.0.1:{envoy.internal_port}", "client", channels)
    groups = edge.groups(envoy, identity=identity)
    path = f"gRPC pass-through, Envoy :internal{f' ({note})' if note else ''}"
    return Row(key, rpc, path, load, groups, section, "client certificate of the dev PKI")
