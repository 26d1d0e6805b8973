"""Refuse to start when a fixed port is taken, naming it; reserve one chosen by the kernel.

Envoy sets SO_REUSEPORT on its listeners, so a second Envoy on the same port
does not fail: the kernel silently splits connections between the old stray
process and the new one (guide/edge.md, "Stray listeners"). A socket bound
without SO_REUSEPORT fails instead while anyone listens there, which is the
check. SO_REUSEADDR stays on, as on every server socket, so connections of a
previous run lingering in TIME_WAIT are not mistaken for a listener.

``reserve`` exists for Envoy's internal listener on port 0 (the tests): the
gateway must be told that address (GATEWAY_LEDGER_ADDR) before Envoy starts,
since Envoy's config lists the gateway's own port. The kernel picks a free port
for a socket bound with SO_REUSEPORT that never listens: Envoy can then bind
the same port (it sets SO_REUSEPORT too), a non-listening socket is handed no
connection, and a process binding without SO_REUSEPORT is refused meanwhile.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass


def split_addr(addr: str) -> tuple[str, int]:
    """("127.0.0.1", 8443) from "127.0.0.1:8443"; IPv6 hosts may be bracketed."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def port_in_use(addr: str) -> str | None:
    """Why ``addr`` cannot be bound right now, or None when it is free (or port 0)."""
    host, port = split_addr(addr)
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "it is in use (a paymesh stack or a stray Envoy still running?)"
            return exc.strerror or str(exc)
    return None


def busy_ports(addrs: Mapping[str, str]) -> list[str]:
    """One message per taken address, naming the variable that chose it."""
    problems = []
    for variable, addr in addrs.items():
        why = port_in_use(addr)
        if why is not None:
            problems.append(
                f"{addr} ({variable}) cannot be used: {why}. Stop whatever listens there"
                f" (`ss -ltnp 'sport = :{split_addr(addr)[1]}'` names it) or set {variable}."
            )
    return problems


@dataclass
class Reservation:
    """An address to hand out now and bind later; ``close`` releases what holds it."""

    addr: str
    sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def reserve(addr: str) -> Reservation:
    """``addr`` as it is when its port is fixed; else the same host on a port the kernel
    picks, held (see the module docstring) until ``close``."""
    host, port = split_addr(addr)
    if port != 0:
        return Reservation(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    chosen = int(sock.getsockname()[1])
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return Reservation(f"{shown}:{chosen}", sock)
