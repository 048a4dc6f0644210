"""A restart loses nothing: finished jobs keep their controls, a job cut off mid-run can be retried."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from bot.model import ActionKind, Job, JobStatus, MergeOptions, MergeRequest, Origin, Outcome, Stage
from bot.service import MergeService
from bot.settings import Secret, Settings
from bot.store import INTERRUPTED_WHILE_GATHERING, Quota, create_store
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
        # The result says it too: a progress edit saying so can be replaced by a later one before it shows.
        assert outcome.view.text.startswith("Resumed after a restart. ")
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


async def _merge_not_shown(surface: ChatSurface) -> Outcome:
    """A merge whose outcome reaches the adapter, which dies before it posts (never confirms it)."""
    request = MergeRequest(surface.origin("ana"), tuple(surface.thread), MergeOptions(prompt="merge"))
    return await surface.service.merge(request, surface._on_progress)


async def test_a_result_stored_but_never_posted_is_posted_after_a_restart_without_a_new_call(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    before = ChatSurface(await MergeService.open(settings))
    before.service.deliver_for("chat", before.resume)
    before.post("a.png", png(seed=1))
    made = await _merge_not_shown(before)
    assert made.ok and made.job is not None and made.view.image is not None
    await before.service.aclose()  # stopped while the adapter was still posting it

    after = ChatSurface(await MergeService.open(settings))
    try:
        after.service.deliver_for("chat", after.resume)
        await eventually(lambda: after.outcome_of(made.job.id))
        shown = after.outcome_of(made.job.id)
        assert shown is not None and shown.ok and shown.view.image == made.view.image
        assert shown.view.text.startswith("Resumed after a restart.")
        assert len(openai_double.requests) == 1  # the stored result, not a second generation
        totals = await after.service._store.totals_since("chat", "team-1", 0.0)
        assert totals.jobs == 1 and totals.cost_usd == pytest.approx(made.job.cost_usd)  # charged once
        await asyncio.sleep(1.5)  # past the worker's next poll: it is posted once
        assert [o.job.id for o in after.replies if o.job is not None] == [made.job.id]
    finally:
        await after.service.aclose()


async def test_a_shown_result_is_not_posted_again_after_a_restart(
    settings: Settings, openai_double: OpenAIDouble
) -> None:
    before = ChatSurface(await MergeService.open(settings))
    before.service.deliver_for("chat", before.resume)
    before.post("a.png", png(seed=1))
    made = await before.merge("merge")  # posted and confirmed, as the adapters do
    assert made.ok
    await before.service.aclose()
    after = ChatSurface(await MergeService.open(settings))
    try:
        after.service.deliver_for("chat", after.resume)
        await asyncio.sleep(1.5)
        assert after.replies == [] and len(openai_double.requests) == 1
    finally:
        await after.service.aclose()


async def test_a_replica_that_died_posting_a_result_leaves_it_to_another_without_a_new_call(
    settings: Settings, openai_double: OpenAIDouble, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On one PostgreSQL: while the replica that made the result is alive and posting it, nobody
    else posts it; once it died (its lease runs out, nothing written), another one posts the
    stored result."""
    shared = with_limits(replace(settings, store_driver="postgres", database_url=Secret(postgres_url)), lease_s=1.0)
    dying, other = [ChatSurface(await MergeService.open(shared)) for _ in range(2)]
    try:
        dying.service.deliver_for("chat", dying.resume)
        dying.post("a.png", png(seed=1))
        made = await _merge_not_shown(dying)
        assert made.ok and made.job is not None
        other.service.deliver_for("chat", other.resume)
        await asyncio.sleep(2.5)  # past the lease: the poster renews it, so nobody else posts
        assert other.replies == []
        monkeypatch.setattr(dying.service._store, "end_lease", _nothing)  # SIGKILL: no last write
        monkeypatch.setattr(dying.service._store, "renew", _lost)
        await dying.service._worker.aclose()
        await eventually(lambda: other.outcome_of(made.job.id))
        shown = other.outcome_of(made.job.id)
        assert shown is not None and shown.ok and shown.view.image == made.view.image
        assert len(openai_double.requests) == 1
    finally:
        await other.service.aclose()
        monkeypatch.undo()
        await dying.service.aclose()


async def _nothing(*_: object, **__: object) -> None:
    return None


async def _lost(*_: object, **__: object) -> bool:
    return False


@pytest.mark.parametrize("driver", ["sqlite", "postgres"])
async def test_a_merge_left_gathering_by_a_dead_process_is_told_to_its_person(
    settings: Settings, driver: str, request: pytest.FixtureRequest
) -> None:
    """The process that took the request died while it downloaded the images: once its lease ran
    out, whichever process runs next tells the person, in the merge's status message, to ask again."""
    if driver == "postgres":
        url = Secret(request.getfixturevalue("postgres_url"))
        settings = replace(settings, store_driver="postgres", database_url=url)
    settings = with_limits(settings, lease_s=1.0)
    store = create_store(settings)
    await store.open()
    origin = Origin("chat", "team-1", "general", "ana", thread_id="t1")
    job = Job(id="gathered1", origin=origin, options=MergeOptions("merge"), references=())
    quota = Quota(since=0.0, per_user_daily=10, workspace_daily_usd=10.0)
    # its lease ran out over a lease ago: nobody renewed it
    assert await store.admit(job, 0.1, quota, gatherer="worker-dead", lease_until=time.time() - 1.5) is None
    await store.set_message(job.id, "status", "status-message-1")
    await store.close()
    after = ChatSurface(await MergeService.open(settings))
    try:
        after.service.deliver_for("chat", after.resume)
        await eventually(lambda: after.outcome_of(job.id))
        told = after.outcome_of(job.id)
        assert told is not None and not told.ok and told.view.text == INTERRUPTED_WHILE_GATHERING
        assert told.job is not None and told.job.messages.get("status") == "status-message-1"
        stored = await after.service.job(job.id)
        assert stored is not None and stored.status is JobStatus.INTERRUPTED
        assert (await after.service._store.totals_since("chat", "team-1", 0.0)).jobs == 0  # released
        await asyncio.sleep(1.5)
        assert len(after.replies) == 1  # told once
    finally:
        await after.service.aclose()
