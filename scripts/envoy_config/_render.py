"""The whole bootstrap: admin, both listeners, every cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scripts.envoy_config._descriptors import grpc_rpcs, services_with_http, workload_of
from scripts.envoy_config._internal import internal_listener, routable
from scripts.envoy_config._model import AUTHZ_CLUSTER, EdgeConfig, socket_address
from scripts.envoy_config._rest import rest_listener
from scripts.envoy_config._upstreams import clusters

CONFIG_NAME = "envoy.json"


def _check_upstreams(cfg: EdgeConfig, services: list[str]) -> None:
    """Fail here, naming what is missing, rather than at Envoy's start or first request."""
    needed = {workload_of(s) for s in services} | {AUTHZ_CLUSTER}
    missing = sorted(needed - cfg.upstreams.keys())
    if missing:
        raise ValueError(f"no upstream address for cluster(s) {missing}")
    empty = sorted(name for name, addrs in cfg.upstreams.items() if not addrs)
    if empty:
        raise ValueError(f"no upstream address for cluster(s) {empty}")


def render(cfg: EdgeConfig) -> dict[str, Any]:
    """The Envoy bootstrap (JSON-compatible) for ``cfg``; the descriptor set must exist."""
    services = services_with_http(cfg.descriptor_set)
    if not services:
        raise ValueError(f"{cfg.descriptor_set} has no service with a google.api.http binding")
    _check_upstreams(cfg, services)
    if cfg.max_request_bytes <= 0:
        raise ValueError(f"max_request_bytes must be positive, got {cfg.max_request_bytes}")
    rpcs = routable(grpc_rpcs(cfg.descriptor_set), cfg.upstreams.keys())
    return {
        "admin": {"address": socket_address(cfg.admin_addr)},
        "static_resources": {
            "listeners": [rest_listener(cfg, services), internal_listener(cfg, rpcs)],
            "clusters": clusters(cfg),
        },
    }


def write_config(cfg: EdgeConfig, out_dir: Path) -> Path:
    """Write ``render(cfg)`` to OUT_DIR/envoy.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / CONFIG_NAME
    path.write_text(json.dumps(render(cfg), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
