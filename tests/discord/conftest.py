"""Fixtures for Discord scenarios: the Discord and OpenAI doubles, a real core, and the bot running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.discord import run
from bot.service import MergeService
from bot.settings import Limits, Secret, Settings
from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble


@dataclass
class World:
    """A server with a channel and three people: Alice asks, Bob watches, Mo moderates."""

    guild: dict[str, Any]
    channel: dict[str, Any]
    alice: dict[str, Any]
    bob: dict[str, Any]
    mo: dict[str, Any]


@dataclass
class RunningBot:
    """The Discord adapter running against the doubles; ``restart()`` is a process restart."""

    settings: Settings
    discord_api: DiscordDouble
    service: MergeService | None = None
    task: asyncio.Task[None] | None = None
    starts: int = field(default=0)

    async def start(self) -> None:
        self.service = await MergeService.open(self.settings)
        self.task = asyncio.create_task(run(self.settings, self.service))
        self.starts += 1
        identified = self.starts
        await self.discord_api.wait_for(
            lambda: len(self.discord_api.identifies) >= identified and self.discord_api.connected
        )

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.service is not None:
            await self.service.aclose()
            self.service = None
        await self.discord_api.wait_for(lambda: not self.discord_api.connected)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def check_alive(self) -> None:
        """The bot task has not died (an exception in run() would end it)."""
        if self.task is not None and self.task.done():
            self.task.result()


def make_settings(data_dir: Path, openai_api: OpenAIDouble, discord_api: DiscordDouble, **changes: Any) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        openai_api_key=Secret("sk-test-not-real"),
        openai_base_url=openai_api.base_url,
        media_hosts=("127.0.0.1",),
        partial_images=1,
        sheet_side=512,
        limits=Limits(max_images=6, fetch_timeout_s=5.0, job_timeout_s=30.0),
        discord_token=Secret(discord_api.token),
        discord_api_base_url=discord_api.base_url,
        discord_gateway_url=discord_api.gateway_url,
    )
    return replace(settings, **changes)


@pytest_asyncio.fixture
async def openai_api() -> AsyncIterator[OpenAIDouble]:
    async with OpenAIDouble() as api:
        yield api


@pytest.fixture
def discord_options() -> dict[str, Any]:
    """Override in a test module to change how the Discord double behaves."""
    return {}


@pytest_asyncio.fixture
async def discord_api(discord_options: dict[str, Any]) -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble(**discord_options) as api:
        yield api
        assert api.spec_errors == [], "the bot sent bodies Discord's spec refuses"


@pytest.fixture
def world(discord_api: DiscordDouble) -> World:
    guild = discord_api.add_guild("Studio")
    channel = discord_api.add_channel(guild, "art")
    mo = discord_api.add_user("mo")
    discord_api.make_moderator(guild, mo)
    return World(guild, channel, discord_api.add_user("alice"), discord_api.add_user("bob"), mo)


@pytest.fixture
def settings_changes() -> dict[str, Any]:
    """Override in a test module to change the bot's settings."""
    return {}


@pytest_asyncio.fixture
async def bot(
    tmp_path: Path,
    openai_api: OpenAIDouble,
    discord_api: DiscordDouble,
    world: World,
    settings_changes: dict[str, Any],
) -> AsyncIterator[RunningBot]:
    running = RunningBot(make_settings(tmp_path, openai_api, discord_api, **settings_changes), discord_api)
    await running.start()
    try:
        yield running
        running.check_alive()
    finally:
        await running.stop()
