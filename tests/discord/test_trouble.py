"""Things going wrong: bad files, no images, too many, OpenAI refusing, Discord hiccups, a restart."""

from __future__ import annotations

from typing import Any

import pytest

from bot.settings import Limits
from tests.discord.conftest import RunningBot, World
from tests.discord.session import (
    delete_with_confirmation,
    eventually,
    original,
    result_of,
    settled,
    thread_with_images,
)
from tests.doubles.discord_double import DiscordDouble, Recorded, button_labels
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def test_a_button_pressed_after_a_restart_still_works(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 3)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "a poster"})
    result = await result_of(discord_api, interaction)

    await bot.restart()  # a new process: new client, new service, same data dir
    press = await discord_api.press(result, world.alice, button_labels(result)["More C"])
    second = await result_of(discord_api, press)

    assert "more C" in second["content"]
    await discord_api.react(result, world.bob, "🔁")  # reactions find the job in the store too
    await discord_api.wait_for(
        lambda: next((m for m in discord_api.bot_messages(thread) if "(retry)" in m["content"]), None)
    )


async def test_a_text_file_and_a_corrupt_image_are_named_and_the_rest_merged(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    await discord_api.post_message(thread, world.bob, "notes", files=[("notes.txt", b"just words, no picture")])
    broken = png(64, 64, seed=9)[:60]
    await discord_api.post_message(thread, world.bob, "broken", files=[("broken.png", broken)])

    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "merge what works"})
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged A, B:")
    skipped = {
        line.split(":", 1)[0]: line for line in result["content"].splitlines()[1:] if line.startswith("Skipped")
    }
    assert set(skipped) == {"Skipped notes.txt", "Skipped C (broken.png)"}, "a text file takes no letter"
    assert "not an image" in skipped["Skipped notes.txt"], "the reason is the file, not a failed download"
    assert "truncated" in skipped["Skipped C (broken.png)"], "a picture that fails keeps its letter, unused"
    assert "HTTP" not in result["content"]


async def test_no_images_gets_a_reply_that_says_how_to_attach_them(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.alice, "nothing to see")

    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "anything"})
    answer = await settled(discord_api, interaction)

    assert "attach" in answer["content"].lower()
    assert not answer["attachments"]


async def test_more_images_than_the_limit_merges_the_most_recent_and_offers_to_start_later(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 8)  # the limit here is 6

    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "all of them"})
    result = await result_of(discord_api, interaction)

    assert result["content"].startswith("Merged C, D, E, F, G, H:"), "the newest six, with the letters they had"
    assert "Left out A and B: I merge at most 6 images at once" in result["content"]
    assert "Apps → Merge images from here" in result["content"], "how to start from a later message"
    assert "More A" not in button_labels(result)


async def test_a_moderation_block_is_shown_and_the_next_merge_works(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("moderation_blocked")

    blocked = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "something dubious"})
    answer = await settled(discord_api, blocked)
    assert not answer["flags"] & 64, "shown in the channel"
    assert "safety" in answer["content"].lower() or "blocked" in answer["content"].lower()

    again = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "something fine"})
    await result_of(discord_api, again)


async def test_a_rate_limit_is_shown_with_a_retry_button_that_works(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("rate_limit", retry_after=0.01, times=10)

    limited = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "busy hour"})
    answer = await settled(discord_api, limited)
    assert "rate" in answer["content"].lower() or "busy" in answer["content"].lower() or "many" in answer["content"]
    assert "Retry" in button_labels(answer)

    openai_api.reset()
    press = await discord_api.press(answer, world.alice, button_labels(answer)["Retry"])
    await result_of(discord_api, press)


async def test_discord_server_errors_and_rate_limits_on_status_edits_are_retried(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "despite hiccups"})
    result = await result_of(discord_api, interaction)
    service = bot.service
    assert service is not None
    await eventually(lambda: service.job_for_message("discord", result["id"]))
    before = len(discord_api.bot_messages(thread))

    def uploads_result(recorded: Recorded) -> bool:
        return any(name.startswith("mergebot-") for name, _ in recorded.files.values())

    edit = "/channels/{channel_id}/messages/{message_id}"
    discord_api.fail_next("PATCH", edit, 429)  # discord.py waits these out
    discord_api.fail_next("PATCH", edit, 503, when=uploads_result)  # and gives up on a 503 at once
    discord_api.fail_next("PATCH", edit, 503, when=uploads_result)

    await discord_api.react(result, world.alice, "🔁")

    retried = await discord_api.wait_for(
        lambda: next((m for m in discord_api.bot_messages(thread) if "(retry)" in m["content"]), None)
    )
    assert retried["attachments"]
    assert not discord_api.fail_queue, "every injected failure was met"
    assert len(discord_api.bot_messages(thread)) == before + 1, "the result replaced its status message"
    bot.check_alive()


async def test_past_the_interaction_window_the_merge_continues_in_channel_messages(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("slow", delay=0.5)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "slow one"})
    await discord_api.wait_for(lambda: interaction.responses)
    discord_api.expire_interaction_tokens()

    def channel_result() -> dict[str, Any] | None:
        for message in discord_api.bot_messages(thread):
            if message["id"] != interaction.original_message_id and "Retry" in button_labels(message):
                return message
        return None

    result = await discord_api.wait_for(channel_result)
    assert result["attachments"]
    service = bot.service
    assert service is not None
    job = await eventually(lambda: service.job_for_message("discord", result["id"]))
    assert job.status.value == "succeeded", "the channel message is recorded as the result"
    assert original(discord_api, interaction) is not None

    await delete_with_confirmation(discord_api, result, world.alice)
    await discord_api.wait_for(lambda: discord_api.bot_messages(thread) == [])  # the stale status message too


@pytest.mark.parametrize("discord_options", [{"upload_limit": 40_000}])
async def test_the_result_is_fitted_to_the_upload_limit(
    bot: RunningBot, discord_api: DiscordDouble, world: World, discord_options: dict[str, int]
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)

    interaction = await discord_api.slash_command(
        thread, world.alice, "merge", {"prompt": "big one", "size": "1536x1024", "quality": "high"}
    )
    result = await result_of(discord_api, interaction)

    assert result["attachments"][0]["size"] <= 40_000


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, 10008),  # a moderator deleted the status message while the merge ran
        (400, 50035),  # Discord refused the edit itself
    ],
)
async def test_a_result_that_cannot_replace_the_status_message_is_posted_as_a_new_one(
    bot: RunningBot, discord_api: DiscordDouble, world: World, status: int, code: int
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)

    def uploads_result(recorded: Recorded) -> bool:
        return any(name.startswith("mergebot-") for name, _ in recorded.files.values())

    discord_api.fail_next(
        "PATCH",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        status,
        {"message": "refused", "code": code},
        when=uploads_result,
    )
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "stubborn"})

    def posted_result() -> dict[str, Any] | None:
        others = [m for m in discord_api.bot_messages(thread) if m["id"] != interaction.original_message_id]
        return next((m for m in others if m["attachments"]), None)

    result = await discord_api.wait_for(posted_result)
    assert "Retry" in button_labels(result)
    service = bot.service
    assert service is not None
    await eventually(lambda: service.job_for_message("discord", result["id"]))

    await delete_with_confirmation(discord_api, result, world.alice)
    await discord_api.wait_for(lambda: discord_api.bot_messages(thread) == [])


@pytest.mark.parametrize("settings_changes", [{"limits": Limits(max_images=6, global_concurrency=1)}])
async def test_a_merge_waiting_for_another_says_it_is_queued_then_runs(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World, settings_changes: object
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    await discord_api.post_message(world.channel, world.bob, "mine", files=[("mine.png", png(64, 64, seed=8))])
    # long enough for the second's status to go from fetching to its place in line (edits are 1 s apart)
    openai_api.fail_next("slow", delay=4.0)
    first = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "first in line"})

    def running() -> bool:
        message = original(discord_api, first)
        return bool(message and message["attachments"])  # the sheet is up: the only slot is taken

    await discord_api.wait_for(running)

    second = await discord_api.slash_command(world.channel, world.bob, "merge", {"prompt": "second in line"})

    def queued() -> bool:
        message = original(discord_api, second)
        return bool(message and message["content"].startswith("Queued"))

    await discord_api.wait_for(queued)
    await result_of(discord_api, first)
    await result_of(discord_api, second)


async def test_without_history_access_the_bot_says_which_permission_it_needs(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    discord_api.fail_next("GET", "/channels/{channel_id}/messages", 403, {"message": "Missing Access", "code": 50001})

    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "anything"})
    answer = await settled(discord_api, interaction)

    assert "Read Message History" in answer["content"]


async def test_an_edit_prompt_form_submitted_after_a_restart_still_merges(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "by day"})
    result = await result_of(discord_api, interaction)
    press = await discord_api.press(result, world.alice, button_labels(result)["Edit prompt"])
    await discord_api.wait_for(lambda: press.modal is not None)

    await bot.restart()  # the form is still open in Alice's client
    submitted = await discord_api.submit_modal(press, world.alice, {"prompt": "by night"})
    edited = await result_of(discord_api, submitted)

    assert "by night" in edited["content"]
    assert "by night" in openai_api.requests[-1].fields["prompt"]


async def test_a_merge_from_here_form_submitted_after_a_restart_still_merges(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, "old", files=[("old.png", png(60, 60, 1))])
    start = await discord_api.post_message(world.channel, world.alice, "here", files=[("x.png", png(60, 60, 2))])
    await discord_api.post_message(world.channel, world.bob, "later", files=[("y.png", png(60, 60, 3))])
    menu = await discord_api.message_command(world.channel, world.alice, "Merge images from here", start)
    await discord_api.wait_for(lambda: menu.modal is not None)

    await bot.restart()
    submitted = await discord_api.submit_modal(menu, world.alice, {"prompt": "x meets y"})
    result = await result_of(discord_api, submitted)

    assert result["content"].startswith("Merged A, B:")


@pytest.mark.parametrize("settings_changes", [{"limits": Limits(max_images=6, per_user_concurrency=2)}])
async def test_a_persons_third_merge_waits_in_line_instead_of_being_refused(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World, settings_changes: object
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("slow", times=2, delay=4.0)
    first = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "first"})
    second = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "second"})
    await discord_api.wait_for(lambda: len(openai_api.requests) == 2)  # both of alice's slots are taken

    third = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "third"})

    def waiting_in_line() -> bool:
        message = original(discord_api, third)
        return bool(message and message["content"].startswith("Queued"))

    await discord_api.wait_for(waiting_in_line)
    results = [await result_of(discord_api, interaction) for interaction in (first, second, third)]
    assert all(message["attachments"] for message in results)
    prompts = [request.fields["prompt"].split("\n")[0] for request in openai_api.requests]
    assert prompts[2] == "third"  # it ran once a slot freed, not refused


@pytest.mark.parametrize("settings_changes", [{"limits": Limits(max_images=6, per_user_concurrency=1)}])
async def test_a_merge_deleted_while_it_waits_in_line_goes_and_its_requester_is_told_privately(
    bot: RunningBot, discord_api: DiscordDouble, openai_api: OpenAIDouble, world: World, settings_changes: object
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("slow", delay=5.0)
    first = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "first"})
    await discord_api.wait_for(lambda: openai_api.requests)
    second = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "second"})

    def waiting_in_line() -> dict[str, Any] | None:
        message = original(discord_api, second)
        return message if message and message["content"].startswith("Queued") else None

    queued = await discord_api.wait_for(waiting_in_line)
    await discord_api.react(queued, world.alice, "🗑️")
    await discord_api.wait_for(lambda: discord_api.message(queued["id"]) is None)

    def told() -> dict[str, Any] | None:
        private = discord_api.bot_messages(thread, ephemeral=True)
        return next((m for m in private if "deleted before its turn came" in m["content"]), None)

    await discord_api.wait_for(told)
    await result_of(discord_api, first)
    assert not any("deleted before" in m["content"] for m in discord_api.bot_messages(thread))  # said privately
    assert [request.fields["prompt"].split("\n")[0] for request in openai_api.requests] == ["first"]


@pytest.mark.parametrize("settings_changes", [{"limits": Limits(max_images=6, per_user_concurrency=1)}])
async def test_once_the_interaction_token_expired_the_requester_is_told_in_the_channel_and_only_they_are_pinged(
    bot: RunningBot,
    discord_api: DiscordDouble,
    openai_api: OpenAIDouble,
    world: World,
    settings_changes: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("adapters.discord.progress.INTERACTION_TOKEN_WINDOW_S", 0.5)
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    openai_api.fail_next("slow", delay=5.0)
    await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "first"})
    await discord_api.wait_for(lambda: openai_api.requests)
    await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "second"})

    def waiting_in_line() -> dict[str, Any] | None:
        return next((m for m in discord_api.bot_messages(thread) if m["content"].startswith("Queued")), None)

    queued = await discord_api.wait_for(waiting_in_line)  # posted in the channel: the token had expired
    await discord_api.react(queued, world.alice, "🗑️")

    def told() -> dict[str, Any] | None:
        public = discord_api.bot_messages(thread)
        return next((m for m in public if "deleted before its turn came" in m["content"]), None)

    notice = await discord_api.wait_for(told)
    assert notice["content"].startswith(f"<@{world.alice['id']}>")
    [sent] = [
        r.body
        for r in discord_api.requests_to("POST", "/channels/{channel_id}/messages")
        if "deleted before its turn came" in str(r.body.get("content"))
    ]
    assert sent["allowed_mentions"]["users"] == [int(world.alice["id"])] and sent["allowed_mentions"]["parse"] == []
    assert discord_api.spec_errors == []
