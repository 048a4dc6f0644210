"""`mergebot run` as deployed: one process, both platforms, one store, stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot import runner
from bot.service import MergeService
from bot.settings import Secret, Settings
from tests.discord.session import result_of, thread_with_images
from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import APP_TOKEN, BOT_TOKEN, SlackDouble
from tests.imagegen import png


@pytest_asyncio.fixture
async def doubles() -> AsyncIterator[tuple[OpenAIDouble, DiscordDouble, SlackDouble]]:
    async with OpenAIDouble() as openai_api, DiscordDouble() as discord_api, SlackDouble() as slack_api:
        yield openai_api, discord_api, slack_api
        assert discord_api.spec_errors == [] and slack_api.problems == []


async def test_run_serves_discord_and_slack_from_one_store(
    tmp_path: Path, doubles: tuple[OpenAIDouble, DiscordDouble, SlackDouble]
) -> None:
    openai_api, discord_api, slack_api = doubles
    settings = Settings(
        data_dir=tmp_path / "data",
        openai_api_key=Secret("sk-test-not-real"),
        openai_base_url=openai_api.base_url,
        media_hosts=("127.0.0.1",),
        sheet_side=512,
        discord_token=Secret(discord_api.token),
        discord_api_base_url=discord_api.base_url,
        discord_gateway_url=discord_api.gateway_url,
        slack_bot_token=Secret(BOT_TOKEN),
        slack_app_token=Secret(APP_TOKEN),
        slack_api_url=slack_api.api_url,
    )
    assert runner.missing_settings(settings) is None
    assert runner.enabled_platforms(settings) == ["discord", "slack"]
    guild = discord_api.add_guild("Studio")
    channel = discord_api.add_channel(guild, "art")
    alice = discord_api.add_user("alice")
    slack_api.add_user("U0ANN", "ann")

    running = asyncio.create_task(runner.run(settings))
    try:
        await discord_api.wait_for(lambda: discord_api.connected)
        await slack_api.connected()
        assert runner.heartbeat_is_fresh(settings.data_dir)

        thread = await thread_with_images(discord_api, channel, alice, 2)
        interaction = await discord_api.slash_command(thread, alice, "merge", {"prompt": "both of them"})
        discord_result = await result_of(discord_api, interaction)
        assert discord_result["content"].startswith("Merged A, B")

        root = slack_api.upload("C0GENERAL", "U0ANN", ("cat.png", png(64, 48, seed=1)), text="the cat")
        await slack_api.mention("C0GENERAL", "U0ANN", "the cat, twice", thread_ts=root["ts"])
        await slack_api.wait_for(
            lambda: any("Merged A" in m.get("text", "") for m in slack_api.bot_messages("C0GENERAL", root["ts"])),
            what="the Slack result",
        )
        assert len(openai_api.requests) == 2
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    # the run closed its store: a restarted process opens it and finds both platforms' jobs
    service = await MergeService.open(settings)
    try:
        discord_job = await service.last_result_in_channel("discord", str(thread["id"]))
        slack_job = await service.last_result_in_channel("slack", "C0GENERAL")
        assert discord_job is not None and slack_job is not None
    finally:
        await service.aclose()


async def test_run_imports_the_openai_sdk_before_any_platform_connects(
    tmp_path: Path, doubles: tuple[OpenAIDouble, DiscordDouble, SlackDouble], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing the OpenAI SDK is about a second of CPU on the event loop: done at a burst's first
    generation, it held the loop past Slack's 3 s acknowledgement of the mentions arriving then."""
    openai_api, _, slack_api = doubles
    settings = Settings(
        data_dir=tmp_path / "data",
        openai_api_key=Secret("sk-test-not-real"),
        openai_base_url=openai_api.base_url,
        slack_bot_token=Secret(BOT_TOKEN),
        slack_app_token=Secret(APP_TOKEN),
        slack_api_url=slack_api.api_url,
    )
    connections_when_warmed: list[int] = []
    warm_up = MergeService.warm_up

    def spy(self: MergeService) -> None:
        connections_when_warmed.append(slack_api.connections)
        warm_up(self)

    monkeypatch.setattr(MergeService, "warm_up", spy)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(settings, stop))
    try:
        await slack_api.connected()
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert connections_when_warmed == [0], "the SDK was imported before Slack connected"
    assert "openai" in sys.modules
