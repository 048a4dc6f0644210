"""An events-only replica on the gateway and a worker-only replica on the REST API, one store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from adapters.discord import run
from bot.service import MergeService
from bot.settings import ReplicaRole, Secret, Settings
from tests.core.chat import eventually
from tests.discord.conftest import RunningBot, World, make_settings
from tests.discord.session import original, result_of, thread_with_images
from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble


@pytest_asyncio.fixture
async def shared(tmp_path: Path, openai_api: OpenAIDouble, discord_api: DiscordDouble, postgres_url: str) -> Settings:
    return make_settings(tmp_path, openai_api, discord_api, store_driver="postgres", database_url=Secret(postgres_url))


@pytest_asyncio.fixture
async def worker(shared: Settings, discord_api: DiscordDouble) -> AsyncIterator[MergeService]:
    """A worker-only replica: it logs in (REST) and never identifies on the gateway."""
    settings = Settings(**{**shared.__dict__, "role": ReplicaRole.WORKER})
    service = await MergeService.open(settings)
    task = asyncio.create_task(run(settings, service))
    try:
        await eventually(lambda: any(c.ok for c in service.health.parts()) or task.done())
        assert not task.done(), task
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await service.aclose()


async def test_the_worker_replica_finishes_in_the_status_message_the_events_replica_opened(
    shared: Settings, worker: MergeService, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    assert discord_api.identifies == []  # the worker replica opened no gateway session
    events = RunningBot(Settings(**{**shared.__dict__, "role": ReplicaRole.EVENTS}), discord_api)
    await events.start()
    try:
        thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
        interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "by day"})
        result = await result_of(discord_api, interaction)
        status = original(discord_api, interaction)
        assert status is not None and result["id"] == status["id"]
        assert result["content"].startswith("Merged A, B")
        assert len(openai_api.requests) == 1
        assert len(discord_api.identifies) == 1  # only the events replica is on the gateway
        assert [c.detail for c in worker.health.parts()] == ["worker-only: REST API, no gateway"]
        events.check_alive()
    finally:
        await events.stop()
