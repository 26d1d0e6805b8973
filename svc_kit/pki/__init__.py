"""Development PKI: a CA and one certificate per workload, carrying a SPIFFE id.

For development and tests only. Production points the same settings (``<PREFIX>_TLS_CERT_FILE``,
``<PREFIX>_TLS_KEY_FILE``, ``<PREFIX>_TLS_CA_FILE``, and Envoy's ``--pki-dir`` files) at
certificates from its own CA; nothing else changes. What a leaf must look like either way:

- exactly one URI SAN, ``spiffe://paymesh.local/<workload>``: gRPC sets ``peer_spiffe_id`` only
  then, Envoy matches on it, and services allow callers by it (``<PREFIX>_ALLOWED_PEERS``);
- serverAuth and clientAuth: every service is a server to its callers and a client of the
  services it calls;
- DNS and IP SANs for every name peers dial (localhost and 127.0.0.1 always; ``--dns ledger``
  for docker-compose service names).

Commands (each prints one progress line per file)::

    python -m svc_kit.pki init   --dir var/pki [--force] [--workload NAME ...] [SANS]
    python -m svc_kit.pki rotate --dir var/pki [--ca] [--workload NAME ...] [SANS]
    python -m svc_kit.pki show   --dir var/pki

    SANS: [--dns NAME ...] [--ip ADDR ...], added to every leaf issued

``init`` keeps what exists (cheap at every start). ``rotate`` re-issues every leaf in the
directory from the existing CA with new keys and serials, keeping each leaf's names and adding
``--dns``/``--ip``; ``rotate --ca`` makes a new CA first. Files are replaced atomically, keys
0600. Running services re-read their files for each new connection (svc_kit.tls), so a leaf
rotation needs no restart; Envoy reads its files at start, and after ``rotate --ca`` every peer
must have the new CA before it can talk to the others again: restart the stack.
"""

from svc_kit.pki._certs import (
    DEFAULT_WORKLOADS,
    CertInfo,
    cert_info,
    generate_ca,
    issue_cert,
    spiffe_id,
)
from svc_kit.pki._cli import main
from svc_kit.pki._files import ExtraNames, rotate_dev_pki, write_atomically, write_dev_pki

__all__ = [
    "DEFAULT_WORKLOADS",
    "CertInfo",
    "ExtraNames",
    "cert_info",
    "generate_ca",
    "issue_cert",
    "main",
    "rotate_dev_pki",
    "spiffe_id",
    "write_atomically",
    "write_dev_pki",
]
