"""A restart loses nothing: finished jobs keep their controls, a job cut off mid-run can be retried."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.model import ActionKind, JobStatus, Stage
from bot.service import MergeService
from bot.settings import Secret, Settings
from tests.core.chat import ChatSurface, control, eventually
from tests.core.conftest import with_limits
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


async def _die_during_generation(settings: Settings, openai_double: OpenAIDouble) -> str:
    """Start a merge, let the process die while the API holds the call; the job's id."""
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
    return job_id


async def test_a_job_running_when_the_process_died_resumes_by_itself(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    job_id = await _die_during_generation(settings, openai_double)
    after = ChatSurface(await MergeService.open(settings))
    try:
        after.service.deliver_for("chat", after.resume)
        await eventually(lambda: after.outcome_of(job_id))
        outcome = after.outcome_of(job_id)
        assert outcome is not None and outcome.ok, outcome
        assert outcome.job is not None and outcome.job.status is JobStatus.SUCCEEDED
        assert len(openai_double.requests) == 1  # generation re-ran once; gathering did not
        shown = [p.text for p in after.progress if p.job_id == job_id and p.stage is not Stage.DONE]
        assert shown and all(text.startswith("Resumed after a restart.") for text in shown)
        assert not any(p.image is not None and p.partial_index is None for p in after.progress)  # sheet not re-sent
        assert len([o for o in after.replies if o.job is not None and o.job.id == job_id]) == 1
    finally:
        await after.service.aclose()


async def test_a_job_too_old_to_resume_is_interrupted_and_retryable(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    job_id = await _die_during_generation(settings, openai_double)
    after = ChatSurface(await MergeService.open(with_limits(settings, resume_within_s=0.0)))
    try:
        after.service.deliver_for("chat", after.resume)
        await eventually(lambda: after.outcome_of(job_id))
        told = after.outcome_of(job_id)
        assert told is not None and not told.ok and "Press Retry" in told.view.text
        assert openai_double.requests == []
        job = await after.service.job(job_id)
        assert job is not None and job.status is JobStatus.INTERRUPTED
        retried = await after.press(control(told, ActionKind.RETRY))
        assert retried.ok, retried.view.text
        assert retried.job is not None and retried.job.parent_id == job_id
    finally:
        await after.service.aclose()


def _retry_outcome(job_id: str):  # type: ignore[no-untyped-def]
    from bot.model import Control, Outcome, View

    return Outcome(View("", controls=(Control(ActionKind.RETRY, job_id, "Retry"),)))


async def test_a_resumed_job_keeps_its_one_reservation(settings: Settings, openai_double: OpenAIDouble) -> None:
    job_id = await _die_during_generation(settings, openai_double)
    after = ChatSurface(await MergeService.open(settings))
    try:
        after.service.deliver_for("chat", after.resume)
        await eventually(lambda: after.outcome_of(job_id))
        outcome = after.outcome_of(job_id)
        assert outcome is not None and outcome.ok and outcome.job is not None
        assert outcome.job.cost_usd is not None and outcome.job.cost_usd > 0
        totals = await after.service._store.totals_since("chat", "team-1", 0.0)
        assert totals.jobs == 1  # the person's daily count took it once, at admission
        assert totals.cost_usd == pytest.approx(outcome.job.cost_usd)  # settled once, to the real usage
    finally:
        await after.service.aclose()


async def test_two_replicas_resume_a_left_job_once(
    settings: Settings, openai_double: OpenAIDouble, postgres_url: str
) -> None:
    shared = replace(settings, store_driver="postgres", database_url=Secret(postgres_url))
    job_id = await _die_during_generation(shared, openai_double)
    replicas = [ChatSurface(await MergeService.open(shared)) for _ in range(2)]
    try:
        for replica in replicas:  # both look for work in the same instant
            replica.service.deliver_for("chat", replica.resume)
        await eventually(lambda: any(r.outcome_of(job_id) for r in replicas))
        await asyncio.sleep(1.5)  # past the workers' next poll: a second claim would have started
        outcomes = [o for r in replicas for o in r.replies if o.job is not None and o.job.id == job_id]
        assert len(outcomes) == 1 and outcomes[0].ok
        assert len(openai_double.requests) == 1  # generated once, by one replica
        showed = [r for r in replicas if any(p.job_id == job_id for p in r.progress)]
        assert len(showed) == 1  # the other replica never showed a second run's progress
    finally:
        for replica in replicas:
            await replica.service.aclose()
