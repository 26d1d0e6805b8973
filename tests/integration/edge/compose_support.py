"""docker-compose.yml as docker-compose itself resolves it, for the compose tests.

`docker-compose config` merges the anchors, interpolates the variables and writes the
long forms (depends_on conditions, build contexts), so the tests read what an engine
would run. Its output is YAML: parsed with PyYAML from the venv when the lock has it,
else with the interpreter docker-compose runs on (Debian's package is a Python script
that needs PyYAML itself). Without docker-compose the tests skip, naming why; .ci/run
installs it, so they always run in CI.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")
# .ci/run sets CI=true and installs docker-compose first: there, missing is a failure.
IN_CI = os.environ.get("CI", "").lower() == "true"
NO_COMPOSE = (
    "docker-compose not installed (Debian: apt-get install docker-compose); "
    "mandatory in CI, where .ci/run installs it"
)
JOB = "no"  # the restart policy of a one-shot job; any other marks a long-running service
APP_SERVICES = ("ledger", "identity", "gateway")
"""Our gRPC services: a database, a workload certificate, a gRPC health probe each."""
SANDBOX = "sandbox"
"""The provider simulators: our image too, but HTTPS, no database, no gRPC."""
_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    """Run docker-compose on our file from the repo root (which must be installed)."""
    assert DOCKER_COMPOSE is not None
    argv = [DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603


def _parse_yaml(text: str) -> Any:
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    assert DOCKER_COMPOSE is not None
    shebang = Path(DOCKER_COMPOSE).read_bytes().split(b"\n", 1)[0].decode(errors="replace")
    if not (shebang.startswith("#!") and "python" in shebang):
        pytest.skip(f"no YAML parser: the venv lacks PyYAML and {DOCKER_COMPOSE} is no script")
    result = subprocess.run(  # noqa: S603 - docker-compose's own interpreter
        [*shebang[2:].split(), "-c", _TO_JSON], input=text, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@functools.cache
def _resolved() -> dict[str, Any]:
    result = compose("config")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = _parse_yaml(result.stdout)
    return dict(config["services"])


def resolved_services() -> dict[str, Any]:
    """Every service, as `docker-compose up` runs them; skips without docker-compose."""
    if DOCKER_COMPOSE is None:
        if IN_CI:  # .ci/run installs it: a missing tool there is a broken run, not a skip
            pytest.fail(f"{NO_COMPOSE} (CI=true: required)")
        pytest.skip(NO_COMPOSE)
    return _resolved()


def env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def flags(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs of a command."""
    return {a: b for a, b in itertools.pairwise(argv) if a.startswith("--")}


def port(addr: str) -> int:
    return int(addr.rpartition(":")[2])


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> named volume (or host path)."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def local_argv(argv: list[str], replace: dict[str, str]) -> list[str]:
    """A container's command for this machine: our python, and ``--flag`` values replaced."""
    local = [sys.executable if a == "python" else a for a in argv]
    for i in range(1, len(local)):
        if local[i - 1] in replace:
            local[i] = replace[local[i - 1]]
    return local
