"""Ann's letters stay put in a Slack thread: a login page instead of a photo keeps its letter unused,
a prompt naming that letter stops before OpenAI with Merge anyway and Edit prompt, "B: the cliffs"
pins B, and a thread with more images than the limit merges the newest and names the rest."""

from __future__ import annotations

from collections.abc import Callable

from tests.doubles.slack_double import SlackDouble
from tests.imagegen import jpeg, png

from .conftest import ANN, BOB, CHANNEL, Harness, control_id, started_with_limits


def thread_with_a_login_page(slack: SlackDouble) -> str:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
    thread = str(root["ts"])
    slack.upload(CHANNEL, BOB, ("coffee.jpg", jpeg(64, 64, seed=2)), text="coffee", thread_ts=thread)
    slack.upload(CHANNEL, BOB, ("bike.png", b"<!DOCTYPE html><html>sign in</html>", "image/png"), thread_ts=thread)
    return thread


async def test_a_prompt_naming_a_skipped_letter_stops_and_merge_anyway_runs_it(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = thread_with_a_login_page(slack)
    await slack.mention(CHANNEL, ANN, "the cat from A riding the motorbike of C", thread_ts=thread)

    text = await bot.status_text(thread, "Your prompt names C")
    assert "C (bike.png) could not be used" in text
    assert bot.openai.requests == [], "no money spent on a prompt that points at nothing"
    stopped = next(m for m in slack.bot_messages(CHANNEL, thread) if "Your prompt names C" in m.get("text", ""))
    anyway = control_id(stopped, "mb:anyway:")
    assert control_id(stopped, "mb:edit:")

    await slack.press(CHANNEL, stopped["ts"], ANN, anyway)
    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [r.label for r in job.references] == ["A", "B"] and job.action == "anyway"
    assert len(bot.openai.requests) == 1


async def test_edit_prompt_on_a_stopped_merge_merges_the_new_text(bot: Harness, slack: SlackDouble) -> None:
    thread = thread_with_a_login_page(slack)
    await slack.mention(CHANNEL, ANN, "the cat from A riding the motorbike of C", thread_ts=thread)
    await bot.status_text(thread, "Your prompt names C")
    stopped = next(m for m in slack.bot_messages(CHANNEL, thread) if "Your prompt names C" in m.get("text", ""))

    await slack.press(CHANNEL, stopped["ts"], ANN, control_id(stopped, "mb:edit:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the Edit prompt modal")
    await slack.submit(view_id, ANN, {"prompt": "the cat from A drinking the coffee of B"})

    [result] = await bot.results(thread)
    assert "the cat from A drinking the coffee of B" in result["text"]
    assert len(bot.openai.requests) == 1


async def test_a_pinned_caption_keeps_its_letter(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cliffs.jpg", jpeg(64, 48, seed=1)), text="B: the cliffs")
    thread = str(root["ts"])
    slack.upload(CHANNEL, BOB, ("sea.png", png(64, 64, seed=2)), text="the sea", thread_ts=thread)
    await slack.mention(CHANNEL, ANN, "the cliffs from B under the sea of C", thread_ts=thread)

    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [(r.label, r.caption) for r in job.references] == [("B", "the cliffs"), ("C", "the sea")]


async def test_more_images_than_the_limit_merges_the_newest_and_names_the_rest(
    harness_factory: Callable[[], Harness], slack: SlackDouble
) -> None:
    async with started_with_limits(harness_factory, max_images=3) as bot:
        root = slack.upload(CHANNEL, ANN, ("a.png", png(40, 40, seed=1)), text="first")
        thread = str(root["ts"])
        for index in range(2, 6):
            slack.upload(CHANNEL, BOB, (f"{index}.png", png(40, 40, seed=index)), thread_ts=thread)
        await slack.mention(CHANNEL, ANN, "all of them", thread_ts=thread)

        [result] = await bot.results(thread)
        job = await bot.job_of(result)
        assert [(r.label, r.source) for r in job.references] == [("C", "3.png"), ("D", "4.png"), ("E", "5.png")]
        assert "Left out A and B: I merge at most 3 images at once" in result["text"]
        assert "“Merge images from here” in the ⋮ menu" in result["text"], "says how to start later"


async def test_a_tiny_image_is_shown_small_and_the_result_says_so(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("room.jpg", jpeg(1200, 900, seed=1)), text="the room")
    thread = str(root["ts"])
    slack.upload(CHANNEL, BOB, ("icon.png", png(24, 24, seed=2)), text="this logo", thread_ts=thread)
    await slack.mention(CHANNEL, ANN, "the logo from B on the wall of A", thread_ts=thread)

    [result] = await bot.results(thread)
    assert "B is only 24x24 px, so it is shown small on the sheet (never more than twice its size)." in result["text"]
    job = await bot.job_of(result)
    assert job.sheet_boxes is not None
    x0, y0, x1, y1 = job.sheet_boxes["B"]
    assert x1 - x0 <= 48 and y1 - y0 <= 48
