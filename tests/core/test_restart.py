"""A restart loses nothing: finished jobs keep their controls, a job cut off mid-run can be retried."""

from __future__ import annotations

import asyncio

from bot.model import ActionKind, JobStatus
from bot.service import MergeService
from bot.settings import Settings
from tests.core.chat import ChatSurface, control, eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def test_controls_work_after_a_restart(settings: Settings) -> None:
    before = ChatSurface(await MergeService.open(settings))
    before.post("a.png", png(seed=1))
    before.post("b.png", png(seed=2))
    first = await before.merge("merge")
    await before.service.aclose()

    after = ChatSurface(await MergeService.open(settings))
    try:
        more_b = await after.press(control(first, ActionKind.REBALANCE, "B"))
        assert more_b.ok and more_b.job is not None and first.job is not None
        assert more_b.job.parent_id == first.job.id
    finally:
        await after.service.aclose()


async def test_a_job_running_when_the_process_died_is_interrupted_and_retryable(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    before = ChatSurface(await MergeService.open(settings))
    before.post("a.png", png(seed=1))
    openai_double.fail_next("slow", delay=30.0)
    running = asyncio.create_task(before.merge("merge"))
    await eventually(lambda: openai_double.requests)
    job_id = before.progress[0].job_id
    running.cancel()  # the process dies mid-generation: nothing gets to write a final status
    await asyncio.gather(running, return_exceptions=True)
    await before.service.aclose()
    openai_double.reset()

    after = ChatSurface(await MergeService.open(settings))
    try:
        job = await after.service.job(job_id)
        assert job is not None and job.status is JobStatus.INTERRUPTED
        retried = await after.press(control(_retry_outcome(job_id), ActionKind.RETRY))
        assert retried.ok, retried.view.text
        assert retried.job is not None and retried.job.parent_id == job_id
    finally:
        await after.service.aclose()


def _retry_outcome(job_id: str):  # type: ignore[no-untyped-def]
    from bot.model import Control, Outcome, View

    return Outcome(View("", controls=(Control(ActionKind.RETRY, job_id, "Retry"),)))
