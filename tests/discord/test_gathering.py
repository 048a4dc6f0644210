"""Where the images come from: option attachments, the message menu, media proxy renditions, many refs."""

from __future__ import annotations

import pytest

from bot.gather import REFERENCE_MAX_SIDE
from bot.settings import Limits
from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, settled, thread_with_images
from tests.doubles.discord_double import DiscordDouble, all_custom_ids, button_labels
from tests.imagegen import png


async def test_images_attached_to_the_command_join_the_thread_images(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)

    interaction = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "add my sketch"}, files={"image1": ("sketch.png", png(70, 50, 7))}
    )
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A, B, C")


async def test_merge_images_from_here_asks_for_a_prompt_and_takes_that_message_onward(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, "old", files=[("old.png", png(60, 60, 1))])
    start = await discord_api.post_message(world.channel, world.alice, "from here", files=[("x.png", png(60, 60, 2))])
    await discord_api.post_message(world.channel, world.bob, "and this", files=[("y.png", png(60, 60, 3))])

    menu = await discord_api.message_command(world.channel, world.alice, "Merge images from here", start)
    await discord_api.wait_for(lambda: menu.modal is not None)
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "x meets y"})
    result = await result_of(discord_api, submitted)

    assert result["content"].startswith("Merged A, B:")
    assert "x meets y" in result["content"]


async def test_large_images_come_from_the_media_proxy_at_sheet_size(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    big = png(1200, 800, seed=5)
    await discord_api.post_message(world.channel, world.alice, "big", files=[("big.png", big)])
    await discord_api.post_message(world.channel, world.alice, "small", files=[("small.png", png(64, 64, 6))])

    interaction = await discord_api.slash_command(
        world.channel, world.alice, "merge", {"prompt": "both", "mode": "collage"}
    )
    await result_of(discord_api, interaction)

    proxied = [query for path, query in discord_api.cdn_hits if path.startswith("/media/") and "big.png" in path]
    assert proxied == [{"width": "512", "height": "341"}], "the sheet side is 512 in these tests (collage)"
    assert not any("big.png" in path for path, _ in discord_api.cdn_hits if not path.startswith("/media/"))


async def test_the_media_proxy_is_asked_for_the_core_s_reference_size(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "huge", files=[("huge.png", png(3000, 1500, seed=5))])
    await discord_api.post_message(world.channel, world.alice, "small", files=[("small.png", png(64, 64, 6))])

    interaction = await discord_api.slash_command(
        world.channel, world.alice, "merge", {"prompt": "both", "mode": "separate"}
    )
    await result_of(discord_api, interaction)

    proxied = [query for path, query in discord_api.cdn_hits if path.startswith("/media/") and "huge.png" in path]
    assert proxied == [{"width": str(REFERENCE_MAX_SIDE), "height": str(REFERENCE_MAX_SIDE // 2)}]


@pytest.mark.parametrize("settings_changes", [{"limits": Limits(max_images=20)}])
async def test_many_references_get_a_select_menu_instead_of_buttons(
    bot: RunningBot, discord_api: DiscordDouble, world: World, settings_changes: object
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 16)

    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a crowd"})
    result = await result_of(discord_api, interaction)

    assert not any(label.startswith("More ") for label in button_labels(result))
    pick = next(custom_id for custom_id in all_custom_ids(result) if custom_id.startswith("mbpick:"))
    chosen = await discord_api.choose(result, world.alice, pick, ["P"])
    second = await result_of(discord_api, chosen)
    assert "more P" in second["content"]


@pytest.mark.parametrize("discord_options", [{"message_content_intent": False}])
async def test_without_the_message_content_intent_the_bot_says_what_to_enable(
    bot: RunningBot, discord_api: DiscordDouble, world: World, discord_options: dict[str, bool]
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)

    asked = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "read the thread"})
    answer = await settled(discord_api, asked)
    assert "Message Content" in answer["content"]
    assert "Developer Portal" in answer["content"]
    assert discord_api.identifies[0]["intents"] != discord_api.identifies[-1]["intents"], "reconnected without it"

    attached = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "just these"},
        files={"image1": ("one.png", png(50, 50, 1)), "image2": ("two.png", png(50, 50, 2))},
    )
    result = await result_of(discord_api, attached)
    assert result["content"].startswith("Merged A, B:")
    assert "Only the images attached to /merge were used" in result["content"], "the thread was not read"


async def test_an_image_link_embed_counts_as_a_reference(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    hosted = discord_api.upload(world.channel["id"], "linked.png", png(64, 64, 8), "image/png")
    embed = {
        "type": "image",
        "url": hosted["url"],
        "thumbnail": {"url": hosted["url"], "proxy_url": hosted["proxy_url"], "width": 64, "height": 64},
    }
    await discord_api.post_message(world.channel, world.alice, hosted["url"], embeds=[embed])
    await discord_api.post_message(world.channel, world.bob, "and a file", files=[("file.png", png(64, 64, 9))])

    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "link and file"})
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A, B:")
    assert any(path.startswith("/media/") and "linked.png" in path for path, _ in discord_api.cdn_hits)


@pytest.mark.parametrize("discord_options", [{"message_content_intent": False}])
async def test_without_the_intent_the_message_menu_still_reads_the_chosen_message(
    bot: RunningBot, discord_api: DiscordDouble, world: World, discord_options: dict[str, bool]
) -> None:
    chosen = await discord_api.post_message(
        world.channel, world.bob, "two refs", files=[("p.png", png(60, 60, 1)), ("q.png", png(60, 60, 2))]
    )

    menu = await discord_api.message_command(world.channel, world.alice, "Merge images from here", chosen)
    await discord_api.wait_for(lambda: menu.modal is not None)
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "p and q"})
    result = await result_of(discord_api, submitted)

    assert result["content"].startswith("Merged A, B:")
    assert "Only the images of the chosen message were used" in result["content"]
