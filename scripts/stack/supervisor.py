"""Start the stack in order, watch it, stop it in order.

Start: PKI, the provider sandbox (booting while the databases are migrated),
databases, migrations, every replica once the sandbox serves, health over mTLS,
Envoy and its view of every upstream, the admin key, one REST and one gRPC call
through the edge; then stack.json and the banner. Progress is one numbered line per
step. Start-up that takes longer than the timeout is abandoned with the list
of what it was still waiting for.

Stop (Ctrl-C, SIGTERM): Envoy first, so no new request is accepted, then every
replica at once with its own drain time, then the sandbox, which the draining
gateway may still be calling; exit 0. A second Ctrl-C kills what is left at once.

Crash: any child that exits while the stack runs is reported with its exit
status and last lines. With replicas, a replica whose service still has a live
one is restarted on the same ports; otherwise (the sandbox, Envoy, a last
replica) everything stops and the supervisor exits 1. Never half-running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from scripts.stack import edge, sandbox, stackfile
from scripts.stack.children import Child, Console, describe_exit
from scripts.stack.databases import ServiceDatabase
from scripts.stack.fleet import MAX_RESTARTS, Fleet, Replica
from scripts.stack.services import ServiceSpec
from scripts.stack.settings import StackSettings
from scripts.stack.startup import Steps

_ENVOY_STOP_S = 5.0
# In-flight REST and gRPC calls get this long to finish once Envoy stops accepting.
_ENVOY_DRAIN_S = 2.0
_REPORT_LINES = 10


class Supervisor:
    """One run of the stack, from the first step to the last process reaped."""

    def __init__(
        self,
        settings: StackSettings,
        console: Console,
        specs: Sequence[ServiceSpec],
        databases: dict[str, ServiceDatabase],
    ) -> None:
        self._settings = settings
        self._console = console
        self._fleet = Fleet(settings, console, specs, databases)
        self._steps = Steps(settings, console, specs, databases, self._fleet)
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._fatal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._watchers: set[asyncio.Task[None]] = set()
        self._ready = False
        self._stopping = False
        console.reserve([r.name for r in self._fleet.replicas] + ["envoy", *self._steps.names()])

    async def run(self) -> int:
        """Serve until a signal (0) or a failure (1); every child is reaped before returning."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)
        try:
            code = await self._serve()
        finally:
            stackfile.remove(self._settings.stack_file)
            clean = await self._shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        code = code if clean else 1
        self._console.say(f"everything is stopped; exit {code}")
        return code

    def _on_signal(self) -> None:
        if self._stop.is_set():
            self._force.set()
            self._console.say("second signal: killing what is left")
        else:
            self._stop.set()

    async def _serve(self) -> int:
        startup = asyncio.create_task(self._steps.run(self._watch), name="startup")
        stopper = asyncio.create_task(self._stop.wait())
        try:
            waits: set[asyncio.Future[Any]] = {startup, stopper, self._fatal}
            await asyncio.wait(waits, return_when="FIRST_COMPLETED")
            if not startup.done():
                startup.cancel()
                await asyncio.gather(startup, return_exceptions=True)
                if self._fatal.done():
                    self._console.say(f"start-up abandoned: {self._fatal.result()}")
                    return 1
                self._console.say("stop requested during start-up")
                return 0
            if (exc := startup.exception()) is not None:
                return self._startup_failed(exc)
            if not self._fatal.done():  # a child may have died as the last step ended
                self._ready = True
                self._steps.announce()
                waits = {stopper, self._fatal}
                await asyncio.wait(waits, return_when="FIRST_COMPLETED")
        finally:
            stopper.cancel()
        if self._fatal.done():
            self._console.say(f"stopping everything: {self._fatal.result()}")
            return 1
        self._console.say(
            "stopping: envoy first, then the services, then the sandbox"
            " (Ctrl-C again kills at once)"
        )
        return 0

    def _startup_failed(self, exc: BaseException) -> int:
        # StartupError and ChildExited are RuntimeErrors; OSError is a file or a socket.
        if isinstance(exc, RuntimeError | OSError):
            self._console.say(f"start-up failed: {exc}")
        else:  # a bug in the supervisor: show where
            trace = "".join(traceback.format_exception(exc))
            self._console.say(f"start-up failed unexpectedly:\n{trace}")
        return 1

    def _watch(self, child: Child, replica: Replica | None = None) -> None:
        """Watch a long-running child (Envoy, the sandbox, a replica) for an exit nobody
        asked for."""
        task = asyncio.create_task(self._on_exit(child, replica), name=f"watch-{child.name}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _on_exit(self, child: Child, replica: Replica | None) -> None:
        returncode = await child.wait()
        if child.stopping or self._stopping:
            return
        self._report(child, returncode)
        if replica is not None and self._may_restart(replica):
            await self._restart(replica)
            return
        self._fail(f"{child.name} exited ({describe_exit(returncode)})")

    def _report(self, child: Child, returncode: int) -> None:
        self._console.say(f"{child.name} (pid {child.pid}) exited: {describe_exit(returncode)}")
        lines = list(child.tail)[-_REPORT_LINES:]
        if lines:
            self._console.say(f"last {len(lines)} lines of {child.name}:")
            for line in lines:
                self._console.say(f"    {line}")

    def _may_restart(self, replica: Replica) -> bool:
        others = [r for r in self._fleet.of(replica.spec) if r is not replica]
        return (
            self._ready and replica.restarts < MAX_RESTARTS and any(r.child.running for r in others)
        )

    async def _restart(self, replica: Replica) -> None:
        self._console.say(
            f"restarting {replica.name} on its ports ({replica.restarts + 1} of {MAX_RESTARTS});"
            f" its other replicas serve meanwhile"
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._settings.start_timeout_s):
                await self._fleet.restart(replica, self._steps.probe_creds())
        except Exception as exc:  # noqa: BLE001 - any failure to come back ends the stack
            if not self._stopping:
                self._fail(f"{replica.name} did not come back: {str(exc) or type(exc).__name__}")
            return
        self._watch(replica.child, replica)
        self._console.say(
            f"{replica.name} is back (pid {replica.child.pid}, {time.monotonic() - started:.1f} s)"
        )
        self._steps.write_stack_file()

    def _fail(self, reason: str) -> None:
        if not self._fatal.done():
            self._fatal.set_result(reason)

    async def _shutdown(self) -> bool:
        """Stop Envoy, every replica, then the sandbox; True when each ended within its grace."""
        self._stopping = True
        killed: list[str] = []
        envoy = self._steps.envoy
        admin_url = self._steps.edge_admin_url
        drainable = envoy is not None and envoy.running and admin_url is not None
        if drainable and admin_url is not None and not self._force.is_set():
            with self._timed("envoy drained"):
                left = await edge.drain(admin_url, _ENVOY_DRAIN_S)
            if left > 0:
                self._console.say(f"{left} request(s) still in flight after the drain; cut")
        if envoy is not None and (envoy.running or envoy.returncode is not None):
            with self._timed("envoy stopped"):
                if not await envoy.stop(_ENVOY_STOP_S, self._force):
                    killed.append(envoy.name)
        if self._fleet.started():
            with self._timed("services stopped"):
                killed += await self._fleet.stop(self._force)
        provider_sandbox = self._steps.sandbox
        if provider_sandbox.started:
            with self._timed("sandbox stopped"):
                if not await provider_sandbox.stop(sandbox.STOP_GRACE_S, self._force):
                    killed.append(provider_sandbox.name)
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        if killed:
            self._console.say(f"had to kill {', '.join(killed)}: they did not stop within grace")
        return not killed

    @contextlib.contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self._console.say(f"{what} ({time.monotonic() - started:.1f} s)")
