"""A press on a merge another replica is running: nothing starts a second run of it, what can be
done through the store is done (Details, Delete), and the person is told why nothing else is."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.controls import DELETE_CONFIRMED
from bot.model import ActionKind, Control, JobStatus
from bot.service import STILL_RUNNING, MergeService
from bot.settings import ReplicaRole, Secret, Settings
from tests.core.chat import ChatSurface, eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def test_presses_on_a_merge_another_replica_runs(
    settings: Settings, openai_double: OpenAIDouble, postgres_url: str
) -> None:
    shared = replace(settings, store_driver="postgres", database_url=Secret(postgres_url))
    runner = ChatSurface(await MergeService.open(shared))
    presser = ChatSurface(await MergeService.open(replace(shared, role=ReplicaRole.EVENTS)))  # never runs it
    try:
        runner.post("a.png", png(seed=1))
        openai_double.fail_next("slow", delay=4.0)
        running = asyncio.create_task(runner.merge("merge"))
        await eventually(lambda: openai_double.requests)
        job_id = runner.progress[0].job_id

        for kind in (ActionKind.RETRY, ActionKind.REBALANCE, ActionKind.EDIT_PROMPT):
            arg = "A" if kind is ActionKind.REBALANCE else None
            pressed = await presser.press(Control(kind, job_id, kind.value, arg=arg), prompt="another prompt")
            assert not pressed.ok and pressed.view.ephemeral and pressed.view.text == STILL_RUNNING, kind
        assert await presser.service._store.children(job_id) == []  # no second run of it was started
        details = await presser.press(Control(ActionKind.DETAILS, job_id, "Details"))
        assert details.ok and job_id in details.view.text

        deleted = await presser.press(Control(ActionKind.DELETE, job_id, "Delete", arg=DELETE_CONFIRMED))
        assert deleted.deleted
        outcome = await running
        assert not outcome.ok and "deleted while it ran" in outcome.view.text
        stored = await runner.service.job(job_id)
        assert stored is not None and stored.status is JobStatus.DELETED
        assert len(openai_double.requests) == 1
    finally:
        await presser.service.aclose()
        await runner.service.aclose()
