"""The edge bench's Envoys: the product config, variants of it, and the process running one.

Every variant starts from ``scripts.envoy_config.render`` (what ``make run`` serves) and is
changed here, on a deep copy of the rendered dict, never in scripts/envoy_config: the bench
measures knobs before anyone commits to them. A ``Transform`` edits the copy in place; each
row of the report says in words what its Envoy changed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.edge_stack import Child, Children
from scripts.envoy_config import INTERNAL_LISTENER, REST_LISTENER, EdgeConfig, render

ENVOY = Path(sys.executable).parent / "envoy"
LOOPBACK_ANY_PORT = "127.0.0.1:0"
EXT_AUTHZ = "envoy.filters.http.ext_authz"
PRINCIPAL_HEADER = "x-paymesh-principal"
_OVERWRITE = "OVERWRITE_IF_EXISTS_OR_ADD"
Transform = Callable[[dict[str, Any]], None]


def product_config(
    upstreams: Mapping[str, Sequence[str]], pki_dir: Path, descriptor_set: Path, log: Path
) -> dict[str, Any]:
    """The bootstrap ``make run`` serves, on port 0 everywhere, access log to ``log``."""
    config = EdgeConfig(
        rest_addr=LOOPBACK_ANY_PORT,
        internal_addr=LOOPBACK_ANY_PORT,
        admin_addr=LOOPBACK_ANY_PORT,
        upstreams={name: list(addrs) for name, addrs in upstreams.items()},
        pki_dir=pki_dir,
        descriptor_set=descriptor_set,
        access_log_path=str(log),
    )
    return render(config)


def variant(base: dict[str, Any], *transforms: Transform) -> dict[str, Any]:
    """A deep copy of ``base`` with ``transforms`` applied in order."""
    config = copy.deepcopy(base)
    for transform in transforms:
        transform(config)
    return config


def listener(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        one for one in config["static_resources"]["listeners"] if one["name"] == name
    )
    return found


def hcm(config: dict[str, Any], name: str = REST_LISTENER) -> dict[str, Any]:
    """The http_connection_manager's typed_config of listener ``name``."""
    typed: dict[str, Any] = listener(config, name)["filter_chains"][0]["filters"][0]["typed_config"]
    return typed


def cluster(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        one for one in config["static_resources"]["clusters"] if one["name"] == name
    )
    return found


def ext_authz(config: dict[str, Any]) -> dict[str, Any]:
    """The REST listener's ext_authz filter config."""
    filters = hcm(config)["http_filters"]
    typed: dict[str, Any] = next(f for f in filters if f["name"] == EXT_AUTHZ)["typed_config"]
    return typed


def authz_protocol(config: dict[str, Any]) -> str:
    """How the config's ext_authz asks: "gRPC" (grpc_service) or "HTTP" (http_service)."""
    return "gRPC" if "grpc_service" in ext_authz(config) else "HTTP"


def replace_ext_authz(config: dict[str, Any], new: dict[str, Any] | None) -> None:
    """Put filter ``new`` where ext_authz was (before the transcoder), or drop ext_authz."""
    filters = hcm(config)["http_filters"]
    index = next(i for i, f in enumerate(filters) if f["name"] == EXT_AUTHZ)
    if new is None:
        del filters[index]
    else:
        filters[index] = new


def fixed_principal(principal: str) -> Transform:
    """No ext_authz: Envoy itself sets the principal identity would have set, and drops the key.

    The route configuration's headers are applied by the router, after the filter that
    strips a client-sent principal, so the upstream sees exactly this one.
    """

    def apply(config: dict[str, Any]) -> None:
        replace_ext_authz(config, None)
        route_config = hcm(config)["route_config"]
        # A header value is a format string there: "%" starts a command, "%%" is a percent.
        value = principal.replace("%", "%%")
        route_config["request_headers_to_add"] = [
            {"header": {"key": PRINCIPAL_HEADER, "value": value}, "append_action": _OVERWRITE}
        ]
        route_config["request_headers_to_remove"] = ["authorization", "x-api-key"]

    return apply


def copied_cluster(
    config: dict[str, Any],
    source: str,
    name: str,
    addrs: Sequence[str],
    *,
    http2: bool = True,
    tls: bool = True,
    health: bool = False,
) -> dict[str, Any]:
    """Cluster ``source`` as the product builds it, renamed and pointed at ``addrs``.

    Everything else is kept (HTTP/2 windows, timeouts, outlier detection), so a row that
    uses it differs from the product only in what is asked for: ``tls=False`` drops the
    transport socket (plaintext, loopback only), ``http2=False`` speaks HTTP/1.1 (ALPN
    http/1.1 under TLS), and the gRPC health checks stay only with ``health`` (a stub
    serves no health service).
    """
    result = copy.deepcopy(cluster(config, source))
    result["name"] = name
    result["load_assignment"]["cluster_name"] = name
    if not health:
        result.pop("health_checks", None)
    set_endpoints(result, addrs)
    if not http2:
        del result["typed_extension_protocol_options"]
        if tls:
            tls_context = result["transport_socket"]["typed_config"]["common_tls_context"]
            tls_context["alpn_protocols"] = ["http/1.1"]
    if not tls:
        del result["transport_socket"]
    return result


def replace_cluster(config: dict[str, Any], new: dict[str, Any]) -> None:
    """Put ``new`` in place of the cluster of the same name, or add it."""
    clusters = config["static_resources"]["clusters"]
    clusters[:] = [c for c in clusters if c["name"] != new["name"]]
    clusters.append(new)


def set_endpoints(one: dict[str, Any], addrs: Sequence[str]) -> None:
    """Replace the endpoints of cluster ``one`` with ``addrs`` (host:port)."""
    endpoints = []
    for addr in addrs:
        host, _, port = addr.rpartition(":")
        socket = {"socket_address": {"address": host, "port_value": int(port)}}
        endpoints.append({"endpoint": {"address": socket}})
    one["load_assignment"]["endpoints"] = [{"lb_endpoints": endpoints}]


def without_access_log(config: dict[str, Any]) -> None:
    for name in (REST_LISTENER, INTERNAL_LISTENER):
        hcm(config, name).pop("access_log", None)


@dataclass
class RunningEnvoy:
    """One Envoy process of the bench and where its listeners are."""

    child: Child
    concurrency: int
    admin_url: str = ""
    rest_port: int = 0
    internal_port: int = 0

    @property
    def pid(self) -> int:
        return self.child.pid


def start_envoy(
    children: Children, name: str, config: dict[str, Any], concurrency: int
) -> RunningEnvoy:
    """Run Envoy with ``config``; return once it is LIVE and every upstream host is healthy."""
    workdir = children.workdir / name
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "envoy.json"
    config_path.write_text(json.dumps(config, indent=1))
    admin_path = workdir / "admin-address"
    admin_path.unlink(missing_ok=True)
    argv = [
        str(ENVOY), "-c", str(config_path), "--admin-address-path", str(admin_path),
        "--concurrency", str(concurrency),
        # As make run (scripts/stack/edge.py): access log lines reach the file every second.
        "--file-flush-interval-msec", "1000",
        # Other Envoys (the stack's own, tests) share this machine's shared memory.
        "--use-dynamic-base-id", "--log-level", "warning",
    ]  # fmt: skip
    envoy = RunningEnvoy(children.spawn(name, argv), concurrency)
    try:
        _wait_ready(envoy, admin_path, config)
    except BaseException:
        children.stop(envoy.child)
        raise
    return envoy


def _wait_ready(
    envoy: RunningEnvoy, admin_path: Path, config: dict[str, Any], timeout_s: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout_s
    expected = {c["name"] for c in config["static_resources"]["clusters"]}
    proc = envoy.child.proc
    with httpx.Client(timeout=2.0) as admin:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"envoy exited ({proc.returncode}):\n{envoy.child.log_tail()}")
            text = admin_path.read_text().strip() if admin_path.exists() else ""
            if text:
                envoy.admin_url = f"http://{text}"
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    if _ready(admin, envoy, expected):
                        return
            time.sleep(0.05)
    raise TimeoutError(f"envoy not ready within {timeout_s:.0f} s:\n{envoy.child.log_tail()}")


def _ready(admin: httpx.Client, envoy: RunningEnvoy, expected: set[str]) -> bool:
    """LIVE, both listeners bound, every host of every cluster healthy."""
    if admin.get(f"{envoy.admin_url}/ready").text.strip() != "LIVE":
        return False
    listeners = admin.get(f"{envoy.admin_url}/listeners?format=json").json()
    ports = {
        one["name"]: int(one["local_address"]["socket_address"]["port_value"])
        for one in listeners.get("listener_statuses", [])
    }
    envoy.rest_port = ports.get(REST_LISTENER, 0)
    envoy.internal_port = ports.get(INTERNAL_LISTENER, 0)
    clusters = admin.get(f"{envoy.admin_url}/clusters?format=json").json()
    healthy = {
        c["name"]: all(_healthy(h) for h in c.get("host_statuses", []))
        for c in clusters.get("cluster_statuses", [])
    }
    return bool(envoy.rest_port and envoy.internal_port) and all(
        healthy.get(name, False) for name in expected
    )


def _healthy(host: Mapping[str, Any]) -> bool:
    # health_status holds eds_health_status plus a true flag per failure (scripts/stack/probes).
    status = host.get("health_status", {})
    flags = [v for k, v in status.items() if k != "eds_health_status" and v is True]
    return status.get("eds_health_status", "HEALTHY") == "HEALTHY" and not flags
