"""The edge config the tests in this folder read: rendered once from the real protos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts import envoy_config as ec


@pytest.fixture(scope="session")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edge") / "paymesh.pb"
    ec.build_descriptor_set(out)
    return out


@pytest.fixture(scope="session")
def cfg(descriptor_set: Path) -> ec.EdgeConfig:
    """make run's addresses; the PKI is never read by render()."""
    return ec.EdgeConfig(
        rest_addr="127.0.0.1:8443",
        internal_addr="127.0.0.1:9443",
        admin_addr="127.0.0.1:9901",
        upstreams={
            "ledger": ["127.0.0.1:50061"],
            "identity": ["127.0.0.1:50062"],
            "identity_authz": ["127.0.0.1:50063"],
            "gateway": ["127.0.0.1:50064"],
        },
        pki_dir=Path("/pki"),
        descriptor_set=descriptor_set,
    )


@pytest.fixture(scope="session")
def config(cfg: ec.EdgeConfig) -> dict[str, Any]:
    """render(cfg): tests only read it."""
    return ec.render(cfg)
