"""The real discord.py client connects to the double through the two URL settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.discord import run
from adapters.discord.client import bot_intents
from bot.errors import ConfigError
from bot.service import MergeService
from bot.settings import Secret
from tests.discord.conftest import RunningBot, make_settings
from tests.doubles.discord_double import INTENT_MESSAGE_CONTENT, DiscordDouble
from tests.doubles.openai_double import OpenAIDouble


async def test_bot_logs_in_and_identifies_with_the_intents_it_needs(
    bot: RunningBot, discord_api: DiscordDouble
) -> None:
    assert discord_api.requests_to("GET", "/users/@me"), "REST went to DISCORD_API_BASE_URL"
    identify = discord_api.identifies[-1]
    assert identify["intents"] == bot_intents(message_content=True).value
    assert identify["intents"] & INTENT_MESSAGE_CONTENT
    assert "token" not in identify


async def test_a_refused_token_is_a_config_error_that_names_the_setting(
    tmp_path: Path, openai_api: OpenAIDouble, discord_api: DiscordDouble
) -> None:
    settings = make_settings(tmp_path, openai_api, discord_api, discord_token=Secret("not-the-token"))
    service = await MergeService.open(settings)
    try:
        with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
            await run(settings, service)
    finally:
        await service.aclose()
    assert discord_api.identifies == []


async def test_run_needs_a_token(tmp_path: Path, openai_api: OpenAIDouble, discord_api: DiscordDouble) -> None:
    settings = make_settings(tmp_path, openai_api, discord_api, discord_token=None)

    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        await run(settings, None)  # type: ignore[arg-type]
