"""One Discord event, one job: a replayed gateway event (a resumed session) or one that two replicas
see (both on the shard of its guild for a moment) runs once, through the de-duplication in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Secret
from tests.discord.conftest import RunningBot, World, make_settings
from tests.discord.session import eventually, result_of, thread_with_images
from tests.discord.test_reactions import finished_results
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble

SETTLE_S = 2.0  # past the workers' next poll: a second run would have called the API by then


@pytest.fixture(params=["sqlite", "postgres"])
def settings_changes(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The bot of these tests keeps its de-duplication keys in either store."""
    if request.param == "sqlite":
        return {}
    return {"store_driver": "postgres", "database_url": Secret(request.getfixturevalue("postgres_url"))}


async def test_a_replayed_command_press_and_reaction_each_run_once(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    command = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "two into one"})
    result = await result_of(discord_api, command)
    await discord_api.dispatch("INTERACTION_CREATE", command.payload)  # the gateway replays it
    await asyncio.sleep(SETTLE_S)
    assert len(openai_api.requests) == 1

    retry = await discord_api.press(result, world.alice, button_labels(result)["Retry"])
    await discord_api.wait_for(lambda: len(openai_api.requests) == 2)
    await discord_api.dispatch("INTERACTION_CREATE", retry.payload)
    await asyncio.sleep(SETTLE_S)
    assert len(openai_api.requests) == 2

    service = bot.service
    assert service is not None
    await eventually(lambda: service.job_for_message("discord", result["id"]))
    await discord_api.react(result, world.bob, "🔁")
    await discord_api.wait_for(lambda: len(openai_api.requests) == 3)
    await discord_api.react(result, world.bob, "🔁")  # the same reaction event again
    await asyncio.sleep(SETTLE_S)
    assert len(openai_api.requests) == 3
    bot.check_alive()


async def test_events_two_replicas_see_run_once(
    tmp_path: Path, openai_api: OpenAIDouble, discord_api: DiscordDouble, world: World, postgres_url: str
) -> None:
    """Two replicas on one PostgreSQL, both on the gateway for the same guild: a command makes one
    merge and one result, and a reaction on it (which no acknowledgement guards) one retry."""
    url = Secret(postgres_url)
    shared = make_settings(tmp_path, openai_api, discord_api, store_driver="postgres", database_url=url)
    first, second = RunningBot(shared, discord_api), RunningBot(shared, discord_api)
    await first.start()
    await second.start()
    try:
        await discord_api.wait_for(lambda: len(discord_api.identifies) >= 2 and discord_api.connected)
        thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
        command = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "two into one"})
        result = await result_of(discord_api, command)
        await asyncio.sleep(SETTLE_S)
        assert len(openai_api.requests) == 1
        assert len(finished_results(discord_api, thread)) == 1
        assert first.service is not None
        async with asyncio.timeout(10):  # the result's message id is recorded just after it is posted
            while await first.service.job_for_message("discord", result["id"]) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await discord_api.react(result, world.bob, "🔁")  # both replicas get the event
        await discord_api.wait_for(lambda: len(openai_api.requests) >= 2)
        await asyncio.sleep(SETTLE_S)
        assert len(openai_api.requests) == 2
        first.check_alive()
        second.check_alive()
    finally:
        await asyncio.gather(second.stop(), first.stop())  # each waits for the gateway to have no session
