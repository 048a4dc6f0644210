"""A merge cut off by a restart finishes by itself in the status message it started in."""

from __future__ import annotations

from tests.core.chat import eventually
from tests.discord.conftest import RunningBot, World
from tests.discord.session import original, result_of, thread_with_images
from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble


async def test_a_merge_cut_off_by_a_restart_finishes_in_its_status_message(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("slow", delay=60.0)  # held until the bot is gone
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "by day"})
    await eventually(lambda: openai_api.requests and openai_api.pending_failures == 0, within=60)
    status = original(discord_api, interaction)
    assert status is not None
    before = len(discord_api.bot_messages(thread))

    openai_api.fail_next("slow", delay=3.0)  # the resumed call: long enough to watch its progress
    await bot.restart()

    def says_resumed() -> bool:
        message = original(discord_api, interaction)
        return bool(message and message["content"].startswith("Resumed after a restart."))

    await discord_api.wait_for(says_resumed)
    result = await result_of(discord_api, interaction)

    assert result["id"] == status["id"] and result["content"].startswith("Resumed after a restart. Merged A, B")
    assert len(openai_api.requests) == 2  # the cut-off call and the resumed one
    assert len(discord_api.bot_messages(thread)) == before  # no second status message, no second result
