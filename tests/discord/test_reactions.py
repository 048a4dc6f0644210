"""Reacting to a result: 🔁 retries, 🇧 asks for more of B, 🗑️ deletes (the requester only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.discord.conftest import RunningBot, World
from tests.discord.session import eventually, result_of, thread_with_images
from tests.doubles.discord_double import MEMBER_PERMISSIONS, DiscordDouble, button_labels


async def merged_thread(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished merge in a thread, recorded by the core (reactions look the job up by message)."""
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "two into one"})
    result = await result_of(discord_api, interaction)
    service = bot.service
    assert service is not None
    await eventually(lambda: service.job_for_message("discord", result["id"]))
    return result, thread


def finished_results(discord_api: DiscordDouble, thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in discord_api.bot_messages(thread) if "Retry" in button_labels(m) and m["attachments"]]


async def test_repeat_reaction_retries_in_a_reply(bot: RunningBot, discord_api: DiscordDouble, world: World) -> None:
    result, thread = await merged_thread(bot, discord_api, world)

    await discord_api.react(result, world.bob, "🔁")

    results = await discord_api.wait_for(lambda: len(finished_results(discord_api, thread)) == 2 and finished_results(
        discord_api, thread
    ))
    retry = results[-1]
    assert "(retry)" in retry["content"]
    assert retry["message_reference"]["message_id"] == result["id"], "posted as a reply to the result"


async def test_letter_reaction_rebalances_toward_that_reference(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, thread = await merged_thread(bot, discord_api, world)

    await discord_api.react(result, world.alice, "🇧")

    results = await discord_api.wait_for(lambda: len(finished_results(discord_api, thread)) == 2 and finished_results(
        discord_api, thread
    ))
    assert "more B" in results[-1]["content"]


async def test_unrelated_reactions_and_messages_are_ignored(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, thread = await merged_thread(bot, discord_api, world)
    someone_else = discord_api.channel_messages(thread)[0]

    await discord_api.react(result, world.alice, "🎉")
    await discord_api.react(someone_else, world.alice, "🔁")
    await discord_api.react(result, world.bob, "🗑️")  # a marker: the bot answers this one
    await discord_api.wait_for(lambda: len(discord_api.bot_messages(thread)) == 2)

    assert len(finished_results(discord_api, thread)) == 1


async def test_trash_reaction_deletes_only_for_the_requester(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, thread = await merged_thread(bot, discord_api, world)

    await discord_api.react(result, world.mo, "🗑️")
    refusal = await discord_api.wait_for(
        lambda: next((m for m in discord_api.bot_messages(thread) if "Only the person" in m["content"]), None)
    )
    assert world.mo["id"] in refusal["content"], "the refusal names who it is for"
    assert "Delete button" in refusal["content"], "it tells a moderator what works instead"
    assert discord_api.message(result["id"]) is not None
    assert discord_api.reactors(result, "🗑️") == [], "the refused reaction was taken back"

    await discord_api.react(result, world.alice, "🗑️")
    await discord_api.wait_for(lambda: discord_api.message(result["id"]) is None)


@pytest.mark.parametrize("discord_options", [{"bot_permissions": MEMBER_PERMISSIONS}])
async def test_without_manage_messages_a_refused_reaction_stays_and_the_refusal_is_still_said(
    bot: RunningBot, discord_api: DiscordDouble, world: World, discord_options: dict[str, int]
) -> None:
    result, thread = await merged_thread(bot, discord_api, world)

    await discord_api.react(result, world.bob, "🗑️")

    await discord_api.wait_for(
        lambda: next((m for m in discord_api.bot_messages(thread) if "Only the person" in m["content"]), None)
    )
    assert discord_api.reactors(result, "🗑️") == [world.bob["id"]]
    assert discord_api.message(result["id"]) is not None
