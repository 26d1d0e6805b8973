"""What the supervisor is asked to run: PAYMESH_* environment variables and flags.

Relative paths are taken from the repository root, so `make run` from any
directory uses the repository's var/ and .paymesh/.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
MAX_REPLICAS = 16
SERVICE_NAMES = ("identity", "ledger", "gateway")
"""The services ``--replicas`` may name (scripts/stack/services.py runs them)."""

# (variable, default, what it is): the table `--help` prints, so it cannot drift from the code.
ENV_VARS = (
    ("PAYMESH_REST_ADDR", "127.0.0.1:8443", "Envoy's REST (HTTPS + JSON) listener"),
    ("PAYMESH_GRPC_ADDR", "127.0.0.1:9443", "Envoy's internal gRPC listener (mTLS)"),
    ("PAYMESH_ADMIN_ADDR", "127.0.0.1:9901", "Envoy's admin API (plain HTTP, loopback only)"),
    ("PAYMESH_VAR_DIR", "var", "PKI, SQLite files, admin key, ports files, Envoy config"),
    ("PAYMESH_STACK_FILE", ".paymesh/stack.json", "where the running stack is described"),
    ("PAYMESH_DATABASE_URL", "", "postgresql://user@host:port/NAME: database NAME_<service> each"),
    ("PAYMESH_REPLICAS", "1", "processes per service (--replicas): 2, gateway=2, 1,gateway=2"),
    ("PAYMESH_START_TIMEOUT_S", "60", "seconds start-up may take before it is abandoned"),
    ("PAYMESH_REQUIRE_CLIENT_CERT", "false", "true: REST clients must present a CA-signed cert"),
)
_SERVICE_SETTINGS = (
    "Service settings (LEDGER_*, IDENTITY_*, GATEWAY_*, e.g. LEDGER_DATABASE_URL) win over"
    " what the stack derives. The gateway's providers are the sandbox's simulators;"
    " GATEWAY_<PROVIDER>__BASE_URL points one elsewhere, and the stack then sets nothing else"
    " for it (a live host also needs GATEWAY_<PROVIDER>__SANDBOX=false and its credentials)."
    " SANDBOX_* variables (sandbox/config.py) reach the sandbox."
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class SettingsError(ValueError):
    """A PAYMESH_* variable or flag has a value the stack cannot run with."""


@dataclass(frozen=True)
class StackSettings:
    """Everything the supervisor needs to know before it starts anything."""

    repo_root: Path
    var_dir: Path
    stack_file: Path
    rest_addr: str
    grpc_addr: str
    admin_addr: str
    replicas: int
    """Processes of each service not named in ``replicas_of``."""
    database_url: str
    start_timeout_s: float
    require_client_cert: bool = False
    replicas_of: Mapping[str, int] = field(default_factory=dict)
    """Services with a count of their own (``gateway=2``): the CPU-heavy one may get more
    processes than the rest."""

    def count(self, service: str) -> int:
        """How many processes ``service`` runs."""
        return self.replicas_of.get(service, self.replicas)

    @property
    def most_replicas(self) -> int:
        return max([self.replicas, *self.replicas_of.values()])

    @property
    def pki_dir(self) -> Path:
        return self.var_dir / "pki"

    @property
    def run_dir(self) -> Path:
        """Ports files of the running processes."""
        return self.var_dir / "run"

    @property
    def envoy_dir(self) -> Path:
        return self.var_dir / "envoy"


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    width = max(len(name) for name, _, _ in ENV_VARS)
    table = "\n".join(
        f"  {name:<{width}}  {default or '(unset)':<20} {text}" for name, default, text in ENV_VARS
    )
    parser = argparse.ArgumentParser(
        prog="scripts/run_stack.py",
        description="Run identity, ledger, gateway and the provider sandbox, with Envoy in"
        " front of the services; Ctrl-C stops everything.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables:\n" + table + "\n\n" + textwrap.fill(_SERVICE_SETTINGS, 88),
    )
    parser.add_argument(
        "--replicas",
        default=env.get("PAYMESH_REPLICAS") or "1",
        help="processes per service, Envoy balances them: N for every service, service=N for"
        " one, comma-separated (gateway=2, or 1,gateway=2); default: PAYMESH_REPLICAS or 1",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=_float(env, "PAYMESH_START_TIMEOUT_S", "60"),
        help="seconds start-up may take (default: PAYMESH_START_TIMEOUT_S or 60)",
    )
    return parser


def _replicas(text: str) -> tuple[int, dict[str, int]]:
    """``--replicas``: the count of every service, and the services with their own."""
    every, own = 1, {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.rpartition("=")
        if not count.isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise SettingsError(
                f"--replicas takes N or service=N (N from 1 to {MAX_REPLICAS}), not {item!r}"
            )
        if not sep:
            every = int(count)
        elif name.strip() not in SERVICE_NAMES:
            raise SettingsError(f"--replicas names {name.strip()!r}, not one of {SERVICE_NAMES}")
        else:
            own[name.strip()] = int(count)
    return every, own


def _float(env: Mapping[str, str], name: str, default: str) -> float:
    try:
        return float(env.get(name) or default)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {env[name]!r}") from None


def _path(env: Mapping[str, str], name: str, default: str) -> Path:
    path = Path(env.get(name) or default).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise SettingsError(f"{name} must be true or false, not {env[name]!r}")
    return value in _TRUE


def _addr(env: Mapping[str, str], name: str, default: str) -> str:
    addr = env.get(name) or default
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"{name} must be host:port (port 0 picks a free one), not {addr!r}")
    return addr


def load(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> StackSettings:
    """Settings from ``argv`` and ``env`` (default: the process's own)."""
    env = os.environ if env is None else env
    args = _parser(env).parse_args(argv)
    replicas, replicas_of = _replicas(args.replicas)
    if args.timeout <= 0:
        raise SettingsError(f"the start-up timeout must be positive, not {args.timeout}")
    defaults = {name: default for name, default, _ in ENV_VARS}
    return StackSettings(
        repo_root=REPO_ROOT,
        var_dir=_path(env, "PAYMESH_VAR_DIR", defaults["PAYMESH_VAR_DIR"]),
        stack_file=_path(env, "PAYMESH_STACK_FILE", defaults["PAYMESH_STACK_FILE"]),
        rest_addr=_addr(env, "PAYMESH_REST_ADDR", defaults["PAYMESH_REST_ADDR"]),
        grpc_addr=_addr(env, "PAYMESH_GRPC_ADDR", defaults["PAYMESH_GRPC_ADDR"]),
        admin_addr=_addr(env, "PAYMESH_ADMIN_ADDR", defaults["PAYMESH_ADMIN_ADDR"]),
        replicas=replicas,
        replicas_of=replicas_of,
        database_url=env.get("PAYMESH_DATABASE_URL", ""),
        start_timeout_s=args.timeout,
        require_client_cert=_flag(env, "PAYMESH_REQUIRE_CLIENT_CERT"),
    )
