"""An events-only replica on Socket Mode and a worker-only replica on the Web API, one store."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from adapters.slack import serve
from adapters.slack.context import SlackContext
from bot.service import MergeService
from bot.settings import ReplicaRole, Secret
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png

from .conftest import ANN, CHANNEL, Harness


async def test_the_worker_replica_finishes_in_the_thread_the_events_replica_answered(
    slack: SlackDouble, openai: OpenAIDouble, tmp_path: object, postgres_url: str
) -> None:
    events = Harness(slack, openai, tmp_path)  # type: ignore[arg-type]
    shared = replace(events.settings, store_driver="postgres", database_url=Secret(postgres_url))
    events.settings = replace(shared, role=ReplicaRole.EVENTS)
    worker_settings = replace(shared, role=ReplicaRole.WORKER)
    worker = await MergeService.open(worker_settings)
    ready = asyncio.Event()

    def started(_: SlackContext) -> None:
        ready.set()

    serving = asyncio.create_task(serve(worker_settings, worker, started=started))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.2)
        assert not serving.done() and slack.connections == 0  # no Socket Mode connection, no listener
        await events.start()
        root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
        slack.upload(CHANNEL, ANN, ("room.png", png(80, 60, seed=2)), text="this room", thread_ts=root["ts"])
        await slack.mention(CHANNEL, ANN, "the cat in the room", thread_ts=root["ts"])
        [result] = await events.results(root["ts"])
        assert "Merged A, B" in result["text"]
        said = [m for m in slack.bot_messages(CHANNEL, root["ts"]) if m.get("text")]
        assert said == [result]  # the status message the events replica posted became the result
        job = await events.job_of(result)
        assert job.messages["status"] == f"{CHANNEL}:{result['ts']}"
        assert len(openai.requests) == 1
        assert slack.connections == 1  # the events replica's
        assert [c.detail for c in worker.health.parts()] == ["worker-only: Web API, no events"]
    finally:
        await events.stop()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await worker.aclose()
