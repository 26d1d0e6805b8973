"""Background loops' tasks: cancel one and wait until it has really stopped.

Every service runs loops beside its RPCs (the gateway's relay, reconciler, poller and
webhook worker, the ledger's writer). Stopping one means cancelling its task and awaiting it,
so its ``finally`` blocks (handing claims back, recording what went out) run before the
engine they use is closed; the cancellation it raises is the expected end, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (None: nothing runs) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
