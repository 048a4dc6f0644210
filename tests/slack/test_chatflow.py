"""A Slack thread that stays readable: two entries per merge, controls that survive failures,
Use as reference asking first, named requesters, Delete that asks, reactions explained,
"Merge images from here" and /merge usage. The real bolt app against the Slack double."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.doubles.slack_double import SlackDouble
from tests.imagegen import jpeg, png

from .conftest import ADA, ANN, BOB, CHANNEL, Harness, control_id, control_ids, started_with_limits
from .test_scenarios import three_images

FROM_HERE = "merge_from_here"  # the manifest's callback id (tests/slack/test_manifest.py checks it)


def image_blocks(message: dict[str, Any]) -> list[str]:
    return [b["slack_file"]["id"] for b in message.get("blocks", []) if b.get("type") == "image"]


async def test_a_merge_adds_two_thread_entries_and_retry_two_more(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "the cat from A in the room from B", thread_ts=thread)
    [result] = await bot.results(thread)
    job = await bot.job_of(result)

    entries = slack.bot_messages(CHANNEL, thread)
    assert len(entries) == 2, [m.get("text") for m in entries]
    status, files = entries
    assert status["ts"] == result["ts"] == job.messages["status"].split(":")[1], "the status became the result"
    assert files["files"] == [job.messages["result-file"], job.messages["sheet-file"]], "result and sheet together"
    assert [slack.files[f].title for f in files["files"]] == ["Merged image", "Reference sheet"]
    assert all(slack.visible_to_members(CHANNEL, f) for f in files["files"]), "everyone in the channel sees both"
    assert image_blocks(status) == [], "no block that only the bot could see"

    await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:retry:"))
    await bot.results(thread, 2)
    await slack.react(CHANNEL, result["ts"], BOB, "b")
    await bot.results(thread, 3)
    assert len(slack.bot_messages(CHANNEL, thread)) == 6, "each iteration adds the same two entries"


async def test_reactions_work_on_the_file_message_too(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    parent = await bot.job_of(result)
    files_message = slack.bot_messages(CHANNEL, thread)[1]
    await slack.react(CHANNEL, files_message["ts"], BOB, "repeat")
    child = await bot.job_of((await bot.results(thread, 2))[-1])
    assert (child.parent_id, child.action) == (parent.id, "retry")


async def test_a_moderation_refusal_keeps_retry_and_edit_prompt(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    bot.openai.fail_next("moderation_blocked", categories=("violence",))
    await slack.mention(CHANNEL, ANN, "a knight fighting", thread_ts=thread)
    text = await bot.status_text(thread, "safety system")
    assert "violence" in text and "reword" in text
    [failed] = [m for m in slack.bot_messages(CHANNEL, thread) if "safety system" in m["text"]]
    ids = control_ids(failed)
    assert any(i.startswith("mb:retry:") for i in ids) and any(i.startswith("mb:edit:") for i in ids)

    await slack.press(CHANNEL, failed["ts"], ANN, control_id(failed, "mb:edit:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the Edit prompt modal")
    assert slack.views[view_id]["blocks"][0]["element"]["initial_value"] == "a knight fighting"
    await slack.submit(view_id, ANN, {"prompt": "a knight resting"})
    [result] = await bot.results(thread)
    assert "a knight resting" in result["text"]


async def test_use_as_reference_asks_for_the_prompt_before_it_spends_anything(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "a poster", thread_ts=thread)
    [first] = await bot.results(thread)

    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:use:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the prompt modal")
    modal = slack.views[view_id]
    assert "D" in modal["title"]["text"]
    assert modal["blocks"][0]["element"]["initial_value"] == "a poster", "pre-filled"
    await bot.idle()
    assert len(bot.openai.requests) == 1, "nothing was spent before the prompt"

    await slack.submit(view_id, ANN, {"prompt": "the poster from D, at night"})
    child = await bot.job_of((await bot.results(thread, 2))[-1])
    assert [r.label for r in child.references] == ["A", "B", "C", "D"]
    assert child.options.prompt == "the poster from D, at night"


async def test_results_name_who_asked(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [first] = await bot.results(thread)
    assert "asked by ann" in first["text"]
    await slack.press(CHANNEL, first["ts"], BOB, control_id(first, "mb:retry:"))
    assert "asked by bob" in (await bot.results(thread, 2))[-1]["text"]


async def test_delete_asks_for_confirmation(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    [delete] = [
        e for b in result["blocks"] if b["type"] == "actions" for e in b["elements"] if "mb:delete:" in e["action_id"]
    ]
    dialog = delete["confirm"]
    assert "cannot be undone" in dialog["text"]["text"] and dialog["style"] == "danger"
    # Slack shows the dialog; only "Delete" sends the press.
    await slack.press(CHANNEL, result["ts"], ANN, delete["action_id"])
    await slack.wait_for(lambda: slack.bot_messages(CHANNEL, thread) == [], what="the merge deleted")


async def test_details_and_help_list_the_reactions(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:details:"))
    [details] = await slack.wait_for(lambda: slack.ephemeral, what="the details")
    for reaction in (":repeat:", ":a:", ":b:", ":wastebasket:"):
        assert reaction in details["text"]

    ack = await slack.slash_command(CHANNEL, BOB, "/merge", "help")
    assert ack.payload is not None
    for shown in (":repeat:", ":wastebasket:", "Merge images from here", "/merge usage", "Use as reference"):
        assert shown in ack.payload["text"]


async def test_merge_images_from_here_in_a_thread_takes_that_message_onward(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = three_images(slack)
    second = slack.thread(CHANNEL, thread)[1]
    await slack.shortcut(CHANNEL, second["ts"], BOB, FROM_HERE)
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the prompt modal")
    assert slack.views[view_id]["title"]["text"] == "Merge from here"
    await slack.submit(view_id, BOB, {"prompt": "the room from B lit like C"})
    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [(r.label, r.source) for r in job.references] == [("B", "room.jpg"), ("C", "lamp.png")], (
        "they keep the letters the thread gives them"
    )
    assert "asked by bob" in result["text"]


async def test_merge_images_from_here_on_a_channel_message_takes_the_channel_from_there(
    bot: Harness, slack: SlackDouble
) -> None:
    slack.upload(CHANNEL, ANN, ("old.png", png(40, 40, seed=1)), text="an old one")
    start = slack.upload(CHANNEL, ANN, ("cat.png", png(40, 40, seed=2)), text="the cat")
    slack.upload(CHANNEL, BOB, ("room.jpg", jpeg(60, 40, seed=3)), text="the room")
    await slack.shortcut(CHANNEL, str(start["ts"]), ANN, FROM_HERE)
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the prompt modal")
    await slack.submit(view_id, ANN, {"prompt": "the cat from A in the room from B"})
    [result] = await bot.results(str(start["ts"]))
    job = await bot.job_of(result)
    assert [r.source for r in job.references] == ["cat.png", "room.jpg"], "the older image is left out"
    assert result["thread_ts"] == start["ts"], "answered in a thread on the chosen message"


async def test_usage_shows_the_persons_merges_and_for_an_admin_the_workspaces(
    bot: Harness, slack: SlackDouble
) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    await bot.results(thread)

    ack = await slack.slash_command(CHANNEL, ANN, "/merge", "usage")
    assert ack.payload is None, "acknowledged at once, answered through response_url"
    [mine] = await slack.wait_for(lambda: slack.responses, what="the usage answer")
    assert mine["response_type"] == "ephemeral"
    assert "Today: 1 merge, about $" in mine["text"] and "49 of your 50 daily merges left" in mine["text"]
    assert "workspace" not in mine["text"]

    await slack.slash_command(CHANNEL, ADA, "/merge", "usage")
    admin = (await slack.wait_for(lambda: len(slack.responses) == 2 and slack.responses, what="the admin's"))[-1]
    assert "This workspace" in admin["text"] and "Today: 1 merge" in admin["text"]
    await bot.idle()
    assert len(bot.openai.requests) == 1, "usage is not a merge"


async def test_a_persons_third_merge_waits_in_line_instead_of_being_refused(
    harness_factory: Callable[[], Harness], slack: SlackDouble
) -> None:
    async with started_with_limits(harness_factory, per_user_concurrency=2) as bot:
        thread = three_images(slack)
        bot.openai.fail_next("slow", times=2, delay=4.0)
        await slack.mention(CHANNEL, ANN, "first", thread_ts=thread)
        await slack.mention(CHANNEL, ANN, "second", thread_ts=thread)
        await slack.wait_for(lambda: len(bot.openai.requests) == 2, what="both of Ann's slots taken")

        await slack.mention(CHANNEL, ANN, "third", thread_ts=thread)

        await bot.results(thread, 3)
        shown = [str(c.args.get("text", "")) for c in slack.calls if c.method in ("chat.postMessage", "chat.update")]
        assert any("Queued: you are next" in text for text in shown), "\n".join(shown)  # told, not refused
        prompts = [request.fields["prompt"].split("\n")[0] for request in bot.openai.requests]
        assert prompts[2] == "third"  # it ran once a slot freed, not refused


async def test_a_merge_deleted_while_it_waits_in_line_goes_and_its_requester_is_told_privately(
    harness_factory: Callable[[], Harness], slack: SlackDouble
) -> None:
    async with started_with_limits(harness_factory, per_user_concurrency=1) as bot:
        thread = three_images(slack)
        bot.openai.fail_next("slow", delay=5.0)
        await slack.mention(CHANNEL, ANN, "first", thread_ts=thread)
        await slack.wait_for(lambda: bot.openai.requests, what="Ann's one slot taken")
        await slack.mention(CHANNEL, ANN, "second", thread_ts=thread)

        def waiting_in_line() -> dict[str, Any] | None:
            return next((m for m in slack.bot_messages(CHANNEL, thread) if "Queued" in str(m.get("text", ""))), None)

        queued = await slack.wait_for(waiting_in_line, what="the second merge in line")
        await slack.react(CHANNEL, queued["ts"], ANN, "wastebasket")
        await slack.wait_for(lambda: slack.message(CHANNEL, queued["ts"]) is None, what="its status message gone")
        await slack.wait_for(
            lambda: any(
                "deleted before its turn came" in str(c.args.get("text", "")) and c.args.get("user") == ANN
                for c in slack.calls_to("chat.postEphemeral")
            ),
            what="Ann told privately",
        )
        await bot.results(thread, 1)
        assert [request.fields["prompt"].split("\n")[0] for request in bot.openai.requests] == ["first"]
