"""The running stack, described for tools and people: stack.json and the banner.

stack.json exists exactly while the stack is ready: it is written once every
health check has passed and removed when the supervisor exits, however it
exits. It holds the admin API key, so it is created with mode 0600 and only
ever replaced by a rename, never rewritten in place.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

BUF_CURL = "npx --yes @bufbuild/buf@1.75.0 curl --protocol grpc"


def url_host(addr_host: str) -> str:
    """The host a client should dial for a listener bound on ``addr_host``."""
    if addr_host in ("0.0.0.0", ""):  # noqa: S104 - translating a bind address, not binding
        return "127.0.0.1"
    if addr_host in ("::", "[::]"):
        return "[::1]"
    return f"[{addr_host}]" if ":" in addr_host else addr_host


def write(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` as JSON to ``path`` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    # O_EXCL + 0600 at creation: the key is never readable by others, even for an instant.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(content, out, indent=2, sort_keys=True)
        out.write("\n")
    tmp.replace(path)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(f".{path.name}.{os.getpid()}.tmp").unlink(missing_ok=True)


def shown_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (shorter to paste), else absolute."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def where(stack: dict[str, Any], root: Path, stack_file: Path) -> list[str]:
    """The banner's lines saying where everything is, one per endpoint."""
    key = shown_path(Path(stack["admin_api_key_file"]), root)
    cert = shown_path(Path(stack["client_cert"]), root)
    log = shown_path(Path(stack["envoy"]["access_log"]), root)
    simulated = ", ".join(stack["sandbox"]["providers"]) or "none"
    rows = [
        ("REST", stack["rest_url"], f"JSON; platform admin API key in {key}"),
        ("gRPC", stack["grpc_url"], f"mTLS; read RPCs with the client cert {cert}"),
        ("admin", stack["envoy_admin_url"], f"Envoy; access log in {log}"),
        ("sandbox", stack["sandbox_url"], f"simulated providers: {simulated}; faults: /_control"),
    ]
    lines = [f"  {label:<7}  {url}  ({what})" for label, url, what in rows]
    return [*lines, f"  {'stack':<7}  {stack_file}"]


def try_it(stack: dict[str, Any], root: Path) -> str:
    """Commands to paste: a REST call with the admin key, a gRPC call with the client cert."""
    ca = shlex.quote(shown_path(Path(stack["ca_cert"]), root))
    key_file = shlex.quote(shown_path(Path(stack["admin_api_key_file"]), root))
    cert = shlex.quote(shown_path(Path(stack["client_cert"]), root))
    key = shlex.quote(shown_path(Path(stack["client_key"]), root))
    schema = shlex.quote(shown_path(root, root))
    return "\n".join(
        [
            f'curl --cacert {ca} -H "Authorization: Bearer $(cat {key_file})" \\',
            f"  {stack['rest_url']}/v1/me",
            # The internal listener serves no reflection: buf reads the schema from
            # the repository's buf.yaml instead.
            f"{BUF_CURL} --schema {schema} --cert {cert} --key {key} --cacert {ca} \\",
            f"  {stack['grpc_url']}/paymesh.ledger.v1.LedgerService/GetTrialBalance",
        ]
    )
