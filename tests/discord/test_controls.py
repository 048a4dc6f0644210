"""Pressing the buttons under a result: More B, Edit prompt, Details, Delete, Use as reference."""

from __future__ import annotations

from typing import Any

import pytest

from bot.controls import decode
from bot.model import ActionKind
from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, settled, thread_with_images
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble


def job_of(message: dict[str, Any]) -> str:
    action = decode(button_labels(message)["Retry"])
    assert action is not None
    return action.job_id


def area(box: tuple[int, int, int, int]) -> int:
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0)


async def first_result(bot: RunningBot, discord_api: DiscordDouble, world: World) -> tuple[dict[str, Any], Any]:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    return await result_of(discord_api, interaction), thread


async def test_more_b_makes_a_new_result_whose_sheet_gives_b_the_largest_panel(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, thread = await first_result(bot, discord_api, world)

    press = await discord_api.press(result, world.alice, button_labels(result)["More B"])
    second = await result_of(discord_api, press)

    assert second["id"] != result["id"], "a new message, the first result stays"
    assert "more B" in second["content"]
    assert bot.service is not None
    child = await bot.service.job(job_of(second))
    assert child is not None and child.parent_id == job_of(result)
    boxes = child.sheet_boxes
    assert max(boxes, key=lambda label: area(boxes[label])) == "B"
    assert len(discord_api.bot_messages(thread)) == 2


async def test_edit_prompt_opens_a_prefilled_modal_and_merges_with_the_new_text(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    result, _ = await first_result(bot, discord_api, world)

    press = await discord_api.press(result, world.alice, button_labels(result)["Edit prompt"])
    await discord_api.wait_for(lambda: press.modal is not None)
    assert press.response_types == [9]
    text_input = press.modal["components"][0]  # type: ignore[index]
    assert "a poster" in str(text_input), "pre-filled with the current prompt"

    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "a poster, but at night"})
    edited = await result_of(discord_api, submitted)

    assert "a poster, but at night" in edited["content"]
    assert "a poster, but at night" in openai_api.requests[-1].fields["prompt"]


async def test_details_answers_privately(bot: RunningBot, discord_api: DiscordDouble, world: World) -> None:
    result, thread = await first_result(bot, discord_api, world)

    press = await discord_api.press(result, world.bob, button_labels(result)["Details"])
    answer = await settled(discord_api, press)

    assert answer["flags"] & 64, "ephemeral"
    assert "Prompt: a poster" in answer["content"]
    shown = ("Model: gpt-image", "mode auto → separate", "A (plain, medium", "Timings:", "Tokens:", "Estimated cost: $")
    for expected in shown:
        assert expected in answer["content"]
    assert len(discord_api.bot_messages(thread)) == 1, "nothing public was added"


async def test_delete_is_refused_for_a_bystander_and_granted_to_a_moderator(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, thread = await first_result(bot, discord_api, world)
    delete_id = button_labels(result)["Delete"]

    refused = await discord_api.press(result, world.bob, delete_id)
    answer = await settled(discord_api, refused)
    assert answer["flags"] & 64
    assert "Only the person who asked" in answer["content"]
    assert discord_api.message(result["id"]) is not None

    asked = await discord_api.press(result, world.mo, delete_id)
    question = await settled(discord_api, asked)
    granted = await discord_api.press(question, world.mo, button_labels(question)["Yes, delete it"])
    done = await settled(discord_api, granted)
    assert done["flags"] & 64
    await discord_api.wait_for(lambda: discord_api.message(result["id"]) is None)
    assert discord_api.bot_messages(thread) == []


async def test_the_requester_deletes_their_own_result(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, _ = await first_result(bot, discord_api, world)

    asked = await discord_api.press(result, world.alice, button_labels(result)["Delete"])
    question = await settled(discord_api, asked)
    await discord_api.press(question, world.alice, button_labels(question)["Yes, delete it"])

    await discord_api.wait_for(lambda: discord_api.message(result["id"]) is None)


async def test_use_as_reference_adds_the_result_as_the_next_label(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    result, _ = await first_result(bot, discord_api, world)

    press = await discord_api.press(result, world.alice, button_labels(result)["Use as reference"])
    await discord_api.wait_for(lambda: press.modal is not None)
    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "a poster with D"})
    second = await result_of(discord_api, submitted)

    assert "More D" in button_labels(second)
    assert "previous result as D" in second["content"]


@pytest.mark.parametrize("settings_changes", [{"control_policy": "requester"}])
async def test_requester_policy_refuses_others_privately_and_says_why(
    bot: RunningBot, discord_api: DiscordDouble, world: World, settings_changes: dict[str, str]
) -> None:
    result, thread = await first_result(bot, discord_api, world)

    press = await discord_api.press(result, world.bob, button_labels(result)["Retry"])

    answer = await discord_api.wait_for(
        lambda: next(iter(discord_api.bot_messages(thread, ephemeral=True)), None)
    )
    assert "Only the person who asked" in answer["content"]
    assert len(discord_api.bot_messages(thread)) == 1, "the public loading message was taken back"
    assert press.response_types == [5]


async def test_every_button_id_is_a_core_control(bot: RunningBot, discord_api: DiscordDouble, world: World) -> None:
    result, _ = await first_result(bot, discord_api, world)

    kinds = {decode(custom_id).kind for custom_id in button_labels(result).values()}  # type: ignore[union-attr]

    # Merge anyway shows only on a stopped merge, Pick and Vary only on a grid of variations
    assert kinds == set(ActionKind) - {ActionKind.MERGE_ANYWAY, ActionKind.PICK, ActionKind.VARY}
