"""Alice gathers references in a thread and runs /merge; everyone sees it progress to a result."""

from __future__ import annotations

import io

from PIL import Image

from tests.discord.conftest import RunningBot, World
from tests.discord.session import eventually, result_of, status_edits, thread_with_images, uploaded_names
from tests.doubles.discord_double import DiscordDouble, button_labels
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def test_three_images_in_a_thread_then_merge_shows_status_then_result_with_buttons(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    openai_api.chunk_delay = 2.0  # previews seconds apart: each has its turn (one edit per second per message)
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)

    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "one poster of all three"})
    result = await result_of(discord_api, interaction)

    assert interaction.response_types == [5], "acknowledged at once with a deferral"
    assert result["channel_id"] == thread["id"]
    assert result["content"].startswith("Merged A, B, C")
    names = uploaded_names(discord_api, interaction)
    assert names[0].startswith("sheet-"), "the reference sheet is shown first"
    assert any(name.startswith("preview-") for name in names), "then the partial preview"
    assert names[-2].startswith("mergebot-"), "then the result, all in the same message"
    assert names[-1].startswith("sheet-"), "with its reference sheet beside it"
    assert len(discord_api.bot_messages(thread)) == 1, "one status message, edited in place"
    edits = status_edits(discord_api, interaction)
    assert len(edits) >= 3
    assert all(edit.get("attachments") != [] for edit in edits), "text-only updates keep the sheet or preview"
    labels = button_labels(result)
    assert {"Retry", "More A", "More B", "More C", "Edit prompt", "Use as reference", "Details", "Delete"} <= set(
        labels
    )
    sent = openai_api.requests[-1]
    assert sent.fields["prompt"], "the core sent the prompt"
    image = Image.open(io.BytesIO(discord_api.attachment_bytes(result["attachments"][0])))
    assert image.width > 0
    assert bot.service is not None
    service = bot.service
    job = await eventually(lambda: service.job_for_message("discord", result["id"]))
    assert [(ref.label, ref.source, ref.author, ref.caption) for ref in job.references] == [
        ("A", "a.png", "Alice", "refs for the poster"),  # the starter message, in the parent channel
        ("B", "b.png", "Alice", "option b"),
        ("C", "c.png", "Alice", "option c"),
    ], "every image of the thread, oldest first, with its author and message text"


async def test_merge_in_a_channel_takes_recent_images(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, "chat without pictures")
    await discord_api.post_message(world.channel, world.alice, "the cat", files=[("cat.png", png(64, 64, seed=3))])
    await discord_api.post_message(world.channel, world.bob, "the room", files=[("room.png", png(64, 48, seed=4))])

    asked = {"prompt": "the cat in the room"}
    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", asked)
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A, B")
    assert {"More A", "More B"} <= set(button_labels(result))
    assert "More C" not in button_labels(result)


async def test_a_second_merge_in_the_thread_does_not_take_the_first_result_as_a_reference(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    first = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "first"})
    await result_of(discord_api, first)

    second = await discord_api.slash_command(thread, world.bob, "merge", {"prompt": "second"})
    result = await result_of(discord_api, second)

    assert result["content"].startswith("Merged A, B:")


async def test_in_a_channel_only_images_since_the_last_result_count(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "one", files=[("one.png", png(64, 64, seed=1))])
    await discord_api.post_message(world.channel, world.alice, "two", files=[("two.png", png(64, 64, seed=2))])
    first = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "one and two"})
    earlier = await result_of(discord_api, first)
    assert bot.service is not None
    service = bot.service
    await eventually(lambda: service.job_for_message("discord", earlier["id"]))
    await discord_api.post_message(world.channel, world.bob, "three", files=[("three.png", png(64, 64, seed=3))])
    await discord_api.post_message(world.channel, world.bob, "four", files=[("four.png", png(64, 64, seed=4))])

    second = await discord_api.slash_command(world.channel, world.bob, "merge", {"prompt": "three and four"})
    result = await result_of(discord_api, second)

    assert result["content"].startswith("Merged A, B:")
    newest = await eventually(lambda: service.job_for_message("discord", result["id"]))
    assert [ref.source for ref in newest.references] == ["three.png", "four.png"]


async def test_in_a_channel_only_the_last_fifty_messages_count(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "too old", files=[("old.png", png(64, 64, seed=1))])
    await discord_api.post_message(world.channel, world.alice, "recent", files=[("new.png", png(64, 64, seed=2))])
    for index in range(49):
        await discord_api.post_message(world.channel, world.bob, f"chat {index}")

    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "only recent"})
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A:")
    assert bot.service is not None
    service = bot.service
    job = await eventually(lambda: service.job_for_message("discord", result["id"]))
    assert [ref.source for ref in job.references] == ["new.png"]
