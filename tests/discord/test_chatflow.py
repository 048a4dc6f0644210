"""A Discord chat flow a team can read every day: the sheet beside each result, controls that
survive failures, Use as reference asking first, named requesters, Delete that asks, help and usage."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, settled, thread_with_images
from tests.doubles.discord_double import DiscordDouble, Interaction, button_labels
from tests.doubles.openai_double import OpenAIDouble


async def first_result(discord_api: DiscordDouble, world: World, prompt: str = "a poster") -> dict[str, Any]:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": prompt})
    return await result_of(discord_api, interaction)


def private_answer(discord_api: DiscordDouble, interaction: Interaction) -> dict[str, Any]:
    """The ephemeral message an interaction was answered with (type 4)."""
    assert interaction.response_types == [4], interaction.response_types
    message = discord_api.message(interaction.original_message_id or "")
    assert message is not None and message["flags"] & 64, "answered privately"
    return message


async def test_the_result_keeps_its_reference_sheet_beside_it(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result = await first_result(discord_api, world)
    names = [a["filename"] for a in result["attachments"]]
    assert len(names) == 2 and names[0].startswith("mergebot-") and names[1].startswith("sheet-")
    sheet = Image.open(io.BytesIO(discord_api.attachment_bytes(result["attachments"][1])))
    assert sheet.size[0] > 0

    press = await discord_api.press(result, world.alice, button_labels(result)["More B"])
    second = await result_of(discord_api, press)
    assert [a["filename"].split("-")[0] for a in second["attachments"]] == ["mergebot", "sheet"]
    assert discord_api.attachment_bytes(second["attachments"][1]) != discord_api.attachment_bytes(
        result["attachments"][1]
    ), "the new sheet shows B's bigger panel"


async def test_a_moderation_refusal_keeps_retry_and_edit_prompt_and_suggests_rewording(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("moderation_blocked", categories=("violence",))
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a knight fighting"})
    failed = await settled(discord_api, interaction)
    assert "violence" in failed["content"] and "reword" in failed["content"]
    assert {"Retry", "Edit prompt"} <= set(button_labels(failed))

    press = await discord_api.press(failed, world.alice, button_labels(failed)["Edit prompt"])
    await discord_api.wait_for(lambda: press.modal is not None)
    assert "a knight fighting" in str(press.modal)
    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "a knight resting"})
    result = await result_of(discord_api, submitted)
    assert "a knight resting" in result["content"]


async def test_a_failed_merge_can_be_retried_from_its_message(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("insufficient_quota")
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    failed = await settled(discord_api, interaction)
    assert "out of credit" in failed["content"]

    openai_api.reset()
    press = await discord_api.press(failed, world.alice, button_labels(failed)["Retry"])
    assert "Merged" in (await result_of(discord_api, press))["content"]


async def test_use_as_reference_asks_for_the_prompt_before_it_spends_anything(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    result = await first_result(discord_api, world)
    press = await discord_api.press(result, world.alice, button_labels(result)["Use as reference"])
    await discord_api.wait_for(lambda: press.modal is not None)
    assert press.response_types == [9]
    assert press.modal is not None and "D" in press.modal["title"]
    assert "a poster" in str(press.modal["components"]), "pre-filled with the last prompt"
    assert len(openai_api.requests) == 1, "nothing was spent yet"

    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "the poster from D, in winter"})
    second = await result_of(discord_api, submitted)
    assert "More D" in button_labels(second)
    assert "the poster from D, in winter" in second["content"]
    assert "the poster from D, in winter" in openai_api.requests[-1].fields["prompt"]


async def test_results_name_who_asked_for_them(bot: RunningBot, discord_api: DiscordDouble, world: World) -> None:
    result = await first_result(discord_api, world)
    assert "asked by Alice" in result["content"]
    press = await discord_api.press(result, world.bob, button_labels(result)["Retry"])
    assert "asked by Bob" in (await result_of(discord_api, press))["content"]


async def test_delete_asks_before_it_removes_anything(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result = await first_result(discord_api, world)
    press = await discord_api.press(result, world.alice, button_labels(result)["Delete"])
    question = await settled(discord_api, press)
    assert question["flags"] & 64 and "cannot be undone" in question["content"]
    assert discord_api.message(result["id"]) is not None, "still there until confirmed"

    confirm = await discord_api.press(question, world.alice, button_labels(question)["Yes, delete it"])
    await discord_api.wait_for(lambda: discord_api.message(result["id"]) is None)
    assert "Deleted" in (await settled(discord_api, confirm))["content"]


async def test_details_and_help_list_the_reactions(bot: RunningBot, discord_api: DiscordDouble, world: World) -> None:
    result = await first_result(discord_api, world)
    thread = discord_api.channels[result["channel_id"]]
    press = await discord_api.press(result, world.bob, button_labels(result)["Details"])
    details = await settled(discord_api, press)
    assert "Reactions" in details["content"] and "🔁" in details["content"] and "🗑️" in details["content"]

    asked = await discord_api.slash_command(thread, world.bob, "merge", {"prompt": "help"})
    await discord_api.wait_for(lambda: asked.responses)
    help_text = private_answer(discord_api, asked)["content"]
    for shown in ("🔁", "🇦", "🗑️", "Use as reference", "usage"):
        assert shown in help_text


async def test_usage_shows_the_persons_merges_and_for_a_moderator_the_servers(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    result = await first_result(discord_api, world)
    channel = discord_api.channels[result["channel_id"]]

    asked = await discord_api.slash_command(channel, world.alice, "merge", {"prompt": "usage"})
    await discord_api.wait_for(lambda: asked.responses)
    mine = private_answer(discord_api, asked)["content"]
    assert "Today: 1 merge, about $" in mine and "49 of your 50 daily merges left" in mine
    assert "workspace" not in mine
    assert len(openai_api.requests) == 1, "usage is not a merge"

    asked = await discord_api.slash_command(channel, world.mo, "merge", {"prompt": "usage"})
    await discord_api.wait_for(lambda: asked.responses)
    theirs = private_answer(discord_api, asked)["content"]
    assert "This workspace" in theirs and "Today: 1 merge" in theirs and "daily budget left" in theirs
