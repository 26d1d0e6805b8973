"""Generate the edge Envoy's bootstrap from the proto descriptors.

Usage (the Makefile's ``envoy-validate`` runs it against a throwaway PKI):

    .venv/bin/python -m scripts.envoy_config --pki-dir var/pki --out var/envoy \\
        [--rest-addr 127.0.0.1:8443] [--internal-addr 127.0.0.1:9443] \\
        [--admin-addr 127.0.0.1:9901] [--ledger-addr HOST:PORT ...] \\
        [--identity-addr HOST:PORT ...] [--identity-authz-addr HOST:PORT ...] \\
        [--gateway-addr HOST:PORT ...] [--require-client-cert] \\
        [--max-request-bytes N] [--access-log FILE]

writes OUT/paymesh.pb (a FileDescriptorSet) and OUT/envoy.json (the bootstrap).

The descriptor set is the one source of truth: the services the JSON
transcoder exposes, the routes, and what each RPC requires on the internal
listener come from it. Each service ``paymesh.<name>.v1.<Svc>`` is served by
the cluster ``<name>``, whose replicas must present that workload's SPIFFE id.

Two listeners:

- ``rest`` (``_rest.py``): HTTPS for outside clients with API keys. identity
  decides every request (ext_authz), the transcoder turns REST into gRPC
  (request headers become gRPC metadata: ``Idempotency-Key`` reaches the
  gateway), each service's route has its own timeout (60 s for payments,
  ``ROUTE_TIMEOUTS``; 15 s otherwise), and every error a client sees is a JSON
  google.rpc.Status (``_errors.py``).
- ``internal`` (``_internal.py``): gRPC for our own workloads, mTLS only,
  each call authorized by the caller's SPIFFE id from ``INTERNAL_ACCESS``.

Every cluster (``_upstreams.py``) is HTTP/2 over mTLS 1.3, health-checked,
with outlier ejection; routes retry only what never reached a replica.
Both listeners write one JSON access log line per request.
"""

from scripts.envoy_config._cli import main
from scripts.envoy_config._descriptors import (
    Rpc,
    build_descriptor_set,
    grpc_rpcs,
    services_with_http,
    unsupported_response_bodies,
    workload_of,
)
from scripts.envoy_config._errors import ERROR_DOMAIN, LOCAL_REPLY_CODES
from scripts.envoy_config._internal import ANY_WORKLOAD, INTERNAL_ACCESS, INTERNAL_LISTENER
from scripts.envoy_config._model import AUTHZ_CLUSTER, TRUST_DOMAIN, EdgeConfig, spiffe_id
from scripts.envoy_config._render import CONFIG_NAME, render, write_config
from scripts.envoy_config._rest import DEFAULT_ROUTE_TIMEOUT, REST_LISTENER, ROUTE_TIMEOUTS

__all__ = [
    "ANY_WORKLOAD",
    "AUTHZ_CLUSTER",
    "CONFIG_NAME",
    "DEFAULT_ROUTE_TIMEOUT",
    "ERROR_DOMAIN",
    "INTERNAL_ACCESS",
    "INTERNAL_LISTENER",
    "LOCAL_REPLY_CODES",
    "REST_LISTENER",
    "ROUTE_TIMEOUTS",
    "TRUST_DOMAIN",
    "EdgeConfig",
    "Rpc",
    "build_descriptor_set",
    "grpc_rpcs",
    "main",
    "render",
    "services_with_http",
    "spiffe_id",
    "unsupported_response_bodies",
    "workload_of",
    "write_config",
]
