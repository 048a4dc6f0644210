"""Alice's letters stay put on Discord: a broken file keeps its letter, "B: the cliffs" stays B when
she merges from that message, and a prompt naming a letter with no image stops before OpenAI."""

from __future__ import annotations

from tests.discord.conftest import RunningBot, World
from tests.discord.session import eventually, result_of, settled
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg, png


async def test_merge_from_a_pinned_message_keeps_the_letter_its_caption_says(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, "A: the coffee", files=[("coffee.png", png(60, 60, 1))])
    start = await discord_api.post_message(
        world.channel, world.alice, "B: the cliffs", files=[("cliffs.png", png(60, 60, 2))]
    )
    await discord_api.post_message(world.channel, world.bob, "the sea", files=[("sea.png", png(60, 60, 3))])

    menu = await discord_api.message_command(world.channel, world.alice, "Merge images from here", start)
    await discord_api.wait_for(lambda: menu.modal is not None)
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "the cliffs from B under the sea of C"})
    result = await result_of(discord_api, submitted)

    assert result["content"].startswith("Merged B, C:"), "the first image keeps the letter its caption pins"
    assert {"More B", "More C"} <= set(button_labels(result)) and "More A" not in button_labels(result)


async def test_a_prompt_naming_a_broken_file_stops_with_merge_anyway_and_edit_prompt(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "the cat", files=[("cat.png", png(60, 60, 1))])
    await discord_api.post_message(world.channel, world.bob, "coffee", files=[("coffee.png", png(60, 60, 2))])
    await discord_api.post_message(world.channel, world.bob, "the bike", files=[("bike.png", png(60, 60, 3)[:70])])

    interaction = await discord_api.slash_command(
        world.channel, world.alice, "merge", {"prompt": "the cat from A riding the motorbike of C"}
    )
    stopped = await settled(discord_api, interaction)

    assert stopped["content"].startswith("Your prompt names C, but C (bike.png) could not be used")
    assert "Nothing was sent to the image model" in stopped["content"]
    buttons = button_labels(stopped)
    assert {"Merge anyway", "Edit prompt"} <= set(buttons)
    assert openai_api.requests == [], "no money spent"

    press = await discord_api.press(stopped, world.alice, buttons["Merge anyway"])
    result = await result_of(discord_api, press)
    assert result["content"].startswith("Merged A, B:") and "(merged anyway)" in result["content"]
    assert len(openai_api.requests) == 1


async def test_edit_prompt_on_a_stopped_merge_merges_the_new_text(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "cat", files=[("cat.png", png(60, 60, 1))])
    await discord_api.post_message(world.channel, world.alice, "room", files=[("room.png", png(60, 60, 2))])
    interaction = await discord_api.slash_command(
        world.channel, world.alice, "merge", {"prompt": "the cat from A in the room of D"}
    )
    stopped = await settled(discord_api, interaction)
    assert "there is no D here (this merge has A and B)" in stopped["content"]

    press = await discord_api.press(stopped, world.alice, button_labels(stopped)["Edit prompt"])
    await discord_api.wait_for(lambda: press.modal is not None)
    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "the cat from A in the room of B"})
    result = await result_of(discord_api, submitted)

    assert "the cat from A in the room of B" in result["content"]
    assert len(openai_api.requests) == 1


async def test_one_message_with_three_images_is_captioned_1_of_3(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    files = [(f"cat{index}.png", png(50, 50, seed=index)) for index in range(3)]
    await discord_api.post_message(world.channel, world.bob, "three cats", files=files)
    await discord_api.post_message(world.channel, world.alice, "", files=[("IMG_0042.png", png(50, 50, 7))])

    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "one cat"})
    result = await result_of(discord_api, interaction)

    assert bot.service is not None
    service = bot.service
    job = await eventually(lambda: service.job_for_message("discord", result["id"]))
    assert [(ref.label, ref.author, ref.caption) for ref in job.references] == [
        ("A", "Bob", "three cats (1 of 3)"),
        ("B", "Bob", "three cats (2 of 3)"),
        ("C", "Bob", "three cats (3 of 3)"),
        ("D", "Alice", "IMG_0042.png"),
    ]


async def test_merge_from_here_inside_a_thread_keeps_the_thread_s_letters(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    starter = await discord_api.post_message(world.channel, world.alice, "refs", files=[("a.png", png(60, 60, 1))])
    thread = await discord_api.start_thread(starter, "poster refs")
    cliffs = await discord_api.post_message(thread, world.bob, "the cliffs", files=[("cliffs.png", png(60, 60, 2))])
    await discord_api.post_message(thread, world.bob, "the sea", files=[("sea.png", png(60, 60, 3))])
    whole = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "all three"})
    assert (await result_of(discord_api, whole))["content"].startswith("Merged A, B, C:"), "the cliffs are B here"

    menu = await discord_api.message_command(thread, world.alice, "Merge images from here", cliffs)
    await discord_api.wait_for(lambda: menu.modal is not None)
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "the cliffs from B under C"})
    result = await result_of(discord_api, submitted)

    assert result["content"].startswith("Merged B, C:"), "the cliffs stay B when merging from their message"


async def test_a_tiny_image_is_shown_small_and_the_result_says_so(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "the room", files=[("room.jpg", jpeg(1200, 900, 1))])
    await discord_api.post_message(world.channel, world.bob, "this logo", files=[("icon.png", png(24, 24, 2))])
    interaction = await discord_api.slash_command(
        world.channel, world.alice, "merge", {"prompt": "the logo from B on the wall of A"}
    )
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A, B:")
    note = "B is only 24x24 px, so it is shown small on the sheet (never more than twice its size)."
    assert note in result["content"]
