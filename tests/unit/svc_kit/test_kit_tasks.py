"""cancel_and_wait: a background loop is stopped and its clean-up has run when it returns."""

from __future__ import annotations

import asyncio

from svc_kit.tasks import cancel_and_wait


async def test_the_loops_clean_up_has_run_when_it_returns() -> None:
    cleaned: list[str] = []

    async def loop() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # clean-up that itself awaits (handing claims back)
            cleaned.append("handed back")

    task = asyncio.get_running_loop().create_task(loop())
    await asyncio.sleep(0)  # let it start
    await cancel_and_wait(task)
    assert cleaned == ["handed back"] and task.cancelled()


async def test_none_and_a_finished_task_are_no_ops() -> None:
    async def done() -> int:
        return 7

    task = asyncio.get_running_loop().create_task(done())
    await task
    await cancel_and_wait(task)
    await cancel_and_wait(None)
    assert task.result() == 7
