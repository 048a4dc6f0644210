"""People using mergebot in a Slack thread, end to end: the real bolt app on Socket Mode,
the real core service, Slack and OpenAI played by their doubles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from adapters.slack.render import ACTION_CRASHED, MERGE_CRASHED
from bot.controls import DELETE_CONFIRMED
from bot.model import Action, ActionKind, Actor, Outcome
from tests.doubles.slack_double import BOT_USER_ID, SlackDouble
from tests.imagegen import jpeg, png

from .conftest import ADA, ANN, BOB, CHANNEL, Harness, control_id, control_ids


def three_images(slack: SlackDouble) -> str:
    """Ann starts a thread with a cat, Bob adds a room, Ann adds a lamp; returns the thread ts."""
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(64, 48, seed=1)), text="the cat")
    thread = root["ts"]
    slack.upload(CHANNEL, BOB, ("room.jpg", jpeg(80, 60, seed=2)), text="this room", thread_ts=thread)
    slack.upload(CHANNEL, ANN, ("lamp.png", png(40, 40, seed=3)), text="lit like this", thread_ts=thread)
    return str(thread)


def area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


async def test_mention_in_a_thread_merges_its_images_oldest_first(bot: Harness, slack: SlackDouble) -> None:
    bot.openai.chunk_delay = 2.0  # previews seconds apart: each has its turn (one edit per second per message)
    thread = three_images(slack)
    ack = await slack.mention(CHANNEL, ANN, "the cat from A in the room from B, lit like C", thread_ts=thread)
    assert ack.payload is None

    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [(r.label, r.source, r.author, r.caption) for r in job.references] == [
        ("A", "cat.png", "ann", "the cat"),
        ("B", "room.jpg", "bob", "this room"),
        ("C", "lamp.png", "ann", "lit like this"),
    ]
    assert job.options.prompt == "the cat from A in the room from B, lit like C"
    assert control_ids(result) == [
        f"mb:retry:{job.id}",
        f"mb:more:{job.id}:A",
        f"mb:more:{job.id}:B",
        f"mb:more:{job.id}:C",
        f"mb:roles:{job.id}",
        f"mb:refine:{job.id}",
        f"mb:edit:{job.id}",
        f"mb:use:{job.id}",
        f"mb:details:{job.id}",
        f"mb:delete:{job.id}:OK",
    ]
    assert len(bot.openai.requests) == 1
    shared = [f.title for f in slack.files_in(CHANNEL, thread)]
    assert shared == ["Merged image", "Reference sheet"]
    # downloads used thumbnails with the bot token; previews were shown and then cleaned up
    assert all(ok for path, ok in slack.file_requests)
    assert all("/files-tmb/" in path for path, _ in slack.file_requests)
    status = slack.message(*job.messages["status"].split(":"))
    assert status is not None and status["ts"] == result["ts"], "the status message became the result"
    edits = [c.args for c in slack.calls_to("chat.update") if c.ok]
    assert {e["ts"] for e in edits} == {status["ts"]}, "one status message, edited in place"
    shown = [b["slack_file"]["id"] for e in edits for b in e.get("blocks", []) if b["type"] == "image"]
    assert len(shown) >= 2, "the status message showed the sheet, then the partial previews"
    assert not set(shown) & set(slack.files), "which are deleted once the result is posted"
    assert job.messages["sheet-file"] in slack.files and job.messages["result-file"] in slack.files
    assert all(b["type"] in ("section", "actions") for b in status["blocks"])
    assert {"status", "result", "result-file", "sheet-file"} <= set(job.messages)


async def test_more_b_gives_b_the_largest_panel(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge them", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await slack.press(CHANNEL, first["ts"], ANN, f"mb:more:{parent.id}:B")
    second = (await bot.results(thread, 2))[-1]
    child = await bot.job_of(second)
    assert child.parent_id == parent.id and child.action == "more:B"
    boxes = child.sheet_boxes
    assert area(boxes["B"]) > max(area(boxes["A"]), area(boxes["C"]))
    assert "more B" in second["text"]


async def test_edit_prompt_through_the_modal(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "a cat in a room", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:edit:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the Edit prompt modal")
    field = slack.views[view_id]["blocks"][0]["element"]
    assert field["initial_value"] == "a cat in a room"

    ack = await slack.submit(view_id, ANN, {"prompt": "a cat on the moon"})
    assert ack.payload is None  # the modal closes
    second = (await bot.results(thread, 2))[-1]
    child = await bot.job_of(second)
    assert child.parent_id == parent.id and child.options.prompt == "a cat on the moon"
    assert "a cat on the moon" in bot.openai.requests[-1].fields["prompt"]


async def test_an_empty_edited_prompt_is_refused_in_the_modal(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "a cat", thread_ts=thread)
    [first] = await bot.results(thread)
    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:edit:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the modal")
    ack = await slack.submit(view_id, ANN, {"prompt": "   "})
    assert ack.payload == {"response_action": "errors", "errors": {"prompt": "Say what to make."}}
    await bot.idle()
    assert len(bot.openai.requests) == 1


async def test_reactions_retry_rebalance_and_delete(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await slack.react(CHANNEL, first["ts"], BOB, "repeat")
    retried = await bot.job_of((await bot.results(thread, 2))[-1])
    assert (retried.parent_id, retried.action) == (parent.id, "retry")

    await slack.react(CHANNEL, first["ts"], BOB, "b")
    more_b = await bot.job_of((await bot.results(thread, 3))[-1])
    assert (more_b.parent_id, more_b.action) == (parent.id, "more:B")

    await slack.react(CHANNEL, first["ts"], BOB, "thumbsup")  # not a control: ignored
    await slack.react(CHANNEL, first["ts"], ANN, "wastebasket")
    await slack.wait_for(lambda: slack.message(CHANNEL, first["ts"]) is None, what="the result message deleted")
    await bot.idle()
    assert bot.service is not None
    gone = await bot.service.job(parent.id)
    assert gone is not None and gone.status.value == "deleted"
    assert parent.messages["result-file"] not in slack.files
    assert len(bot.openai.requests) == 3


async def test_only_the_requester_or_an_admin_can_delete(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    delete = control_id(result, "mb:delete:")

    await slack.press(CHANNEL, result["ts"], BOB, delete)
    refusal = await slack.wait_for(lambda: [e for e in slack.ephemeral if e["user"] == BOB], what="a refusal")
    assert "Only the person who asked" in refusal[0]["text"]
    assert slack.message(CHANNEL, result["ts"]) is not None

    await slack.press(CHANNEL, result["ts"], ADA, delete)
    await slack.wait_for(lambda: slack.message(CHANNEL, result["ts"]) is None, what="the admin's delete")
    await bot.idle()
    assert [m for m in slack.bot_messages(CHANNEL, thread)] == []
    assert slack.files_in(CHANNEL, thread) == []


async def test_buttons_and_reactions_work_after_a_restart(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await bot.restart()  # a new service and a new app on the same data dir
    assert slack.connections == 2
    await slack.press(CHANNEL, first["ts"], BOB, control_id(first, "mb:retry:"))
    child = await bot.job_of((await bot.results(thread, 2))[-1])
    assert child.parent_id == parent.id and (child.origin.user_id, child.origin.user_name) == (BOB, "bob")

    await bot.restart()
    await slack.react(CHANNEL, first["ts"], ANN, "a")
    more_a = await bot.job_of((await bot.results(thread, 3))[-1])
    assert (more_a.parent_id, more_a.action) == (parent.id, "more:A")


async def test_configured_reactions_rebalance(harness_factory: Callable[[], Harness], slack: SlackDouble) -> None:
    harness = harness_factory()
    harness.settings = replace(harness.settings, slack_rebalance_reactions={"bulb": "C"})
    await harness.start()
    try:
        thread = three_images(slack)
        await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
        [first] = await harness.results(thread)
        await slack.react(CHANNEL, first["ts"], BOB, "bulb")
        child = await harness.job_of((await harness.results(thread, 2))[-1])
        assert child.action == "more:C"
        # Weights, not panel areas: these small test pictures meet the sheet's 2x upscale cap.
        weights = {ref.label: ref.weight for ref in child.references}
        assert weights["C"] > max(weights["A"], weights["B"])
    finally:
        await harness.stop()


async def test_a_non_image_and_a_corrupt_file_are_skipped_and_named(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(
        CHANNEL, ANN, ("cat.png", png(seed=1)), ("notes.txt", b"shopping list", "text/plain"), text="refs"
    )
    thread = str(root["ts"])
    slack.upload(
        CHANNEL, BOB, ("broken.png", b"\x89PNG\r\n\x1a\n this is not really a png", "image/png"), thread_ts=thread
    )
    slack.upload(CHANNEL, BOB, ("room.jpg", jpeg(seed=2)), thread_ts=thread)
    await slack.mention(CHANNEL, ANN, "merge what works", thread_ts=thread)

    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [(r.label, r.source) for r in job.references] == [("A", "cat.png"), ("C", "room.jpg")]
    assert "Skipped B (broken.png)" in result["text"], "the letter stays with the file, unused"
    assert "Skipped notes.txt: not an image" in result["text"], "a file Slack calls text gets no letter"
    assert not any("notes.txt" in path for path, _ in slack.file_requests), "a non-image is never downloaded"


async def test_a_thread_without_images_gets_a_clear_reply(bot: Harness, slack: SlackDouble) -> None:
    root = slack.post(CHANNEL, ANN, "what should we make?")
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=str(root["ts"]))
    text = await bot.status_text(str(root["ts"]), "no images")
    assert text.startswith("⚠️")
    assert bot.openai.requests == []


async def test_an_openai_failure_is_shown_in_the_thread(bot: Harness, slack: SlackDouble) -> None:
    bot.openai.fail_next("moderation_blocked")
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    text = await bot.status_text(thread, "⚠️")
    assert "safety" in text.lower() or "blocked" in text.lower()
    assert [m for m in slack.bot_messages(CHANNEL, thread) if "Merged" in m.get("text", "")] == []


async def test_a_server_failure_offers_retry_that_works(bot: Harness, slack: SlackDouble) -> None:
    bot.openai.fail_next("server_error", times=10)
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    await bot.status_text(thread, "⚠️")
    failed = next(m for m in slack.bot_messages(CHANNEL, thread) if m.get("text", "").startswith("⚠️"))
    bot.openai.reset()
    await slack.press(CHANNEL, failed["ts"], ANN, control_id(failed, "mb:retry:"))
    [result] = await bot.results(thread)
    assert (await bot.job_of(result)).action == "retry"


async def test_a_bare_mention_asks_for_a_prompt(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    ack = await slack.mention(CHANNEL, ANN, "")
    assert ack.payload is None
    [reply] = await slack.wait_for(lambda: slack.ephemeral, what="the usage reply")
    assert "Say what to make" in reply["text"] and reply["user"] == ANN
    await bot.idle()
    assert bot.openai.requests == []
    assert BOT_USER_ID not in [m.get("user") for m in slack.messages[CHANNEL]]


async def test_a_mention_outside_a_thread_merges_its_own_files(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, BOB, ("old.png", png(seed=5)))  # earlier channel images are not part of it
    message = slack.upload(
        CHANNEL,
        ANN,
        ("cat.png", png(seed=1)),
        ("dog.png", png(seed=2)),
        text=f"<@{BOT_USER_ID}> the cat and the dog together",
    )
    ack = await slack.deliver(
        "events_api",
        slack.event_callback(
            {
                "type": "app_mention",
                "user": ANN,
                "text": message["text"],
                "ts": message["ts"],
                "channel": CHANNEL,
                "event_ts": message["ts"],
                "files": [],
                "team": "T0MERGE",
            }
        ),
    )
    assert ack.payload is None
    [result] = await bot.results(str(message["ts"]))
    job = await bot.job_of(result)
    assert [r.source for r in job.references] == ["cat.png", "dog.png"]
    assert job.options.prompt == "the cat and the dog together"
    assert job.references[0].caption == "the cat and the dog together (1 of 2)", "one message, two images"


async def test_a_button_of_a_merge_no_longer_stored_answers_privately(bot: Harness, slack: SlackDouble) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert bot.service is not None
    gone = Action(ActionKind.DELETE, job.id, DELETE_CONFIRMED)
    await bot.service.act(gone, Actor("slack", "T0MERGE", ANN))  # gone from the store

    await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:retry:"))
    [answer] = await slack.wait_for(lambda: slack.ephemeral, what="the private answer")
    assert answer["user"] == BOB and "no longer stored" in answer["text"]
    await bot.idle()
    assert len(bot.openai.requests) == 1


async def test_an_unexpected_core_failure_still_answers(
    bot: Harness, slack: SlackDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = three_images(slack)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [result] = await bot.results(thread)

    async def broken(*_: object, **__: object) -> Outcome:
        raise RuntimeError("database is locked")

    assert bot.service is not None
    monkeypatch.setattr(bot.service, "merge", broken)
    monkeypatch.setattr(bot.service, "act", broken)
    await slack.mention(CHANNEL, ANN, "again", thread_ts=thread)
    assert await bot.status_text(thread, MERGE_CRASHED) == f"⚠️ {MERGE_CRASHED}"

    await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:retry:"))
    [answer] = await slack.wait_for(lambda: slack.ephemeral, what="the private answer")
    assert (answer["user"], answer["text"]) == (BOB, ACTION_CRASHED)
    assert not [m for m in slack.bot_messages(CHANNEL, thread) if "database" in m.get("text", "")]
