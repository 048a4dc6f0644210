"""The other ways in: the message shortcut and its modal, /merge in a channel, Slack Connect
files, files the bot may not read, and the remaining controls (Details, Use as reference,
the "More of…" select)."""

from __future__ import annotations

from adapters.slack.commands import CANNOT_POST, CANNOT_READ, MERGE_MODAL_ID, SHORTCUT_ID, help_text
from adapters.slack.gather import AUTH_HINT
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png

from .conftest import ANN, BOB, CHANNEL, Harness, control_id


async def test_the_shortcut_opens_a_modal_and_merges_the_thread(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    thread = str(root["ts"])
    reply = slack.upload(CHANNEL, BOB, ("hat.png", png(seed=2)), thread_ts=thread)

    await slack.shortcut(CHANNEL, str(reply["ts"]), BOB, SHORTCUT_ID)  # run on a reply: the whole thread counts
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the merge modal")
    modal = slack.views[view_id]
    assert modal["callback_id"] == MERGE_MODAL_ID
    assert [b["block_id"] for b in modal["blocks"]] == ["prompt", "mode", "roles", "size", "quality", "variations"]

    await slack.submit(view_id, BOB, {"prompt": "the cat wearing the hat", "mode": "separate", "quality": "low"})
    [result] = await bot.results(thread)
    job = await bot.job_of(result)
    assert [r.source for r in job.references] == ["cat.png", "hat.png"]
    assert (job.options.prompt, job.options.mode.value, job.options.quality) == (
        "the cat wearing the hat",
        "separate",
        "low",
    )
    assert job.origin.user_id == BOB
    assert bot.openai.requests[-1].image_field == "image[]"


async def test_slash_merge_takes_recent_channel_images_into_a_new_thread(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    slack.post(CHANNEL, BOB, "nice")
    slack.upload(CHANNEL, BOB, ("room.png", png(seed=2)), text="a room")
    ack = await slack.slash_command(CHANNEL, ANN, "/merge", "the cat in the room <b>")
    assert ack.payload is None

    root = await slack.wait_for(
        lambda: next((m for m in slack.bot_messages(CHANNEL) if "asked me to merge" in m["text"]), None),
        what="the /merge thread",
    )
    assert root["blocks"][0]["text"]["text"] == (
        f"<@{ANN}> asked me to merge the 2 most recent images here: “the cat in the room &lt;b&gt;”"
    )
    assert "mention @mergebot there" in root["blocks"][1]["elements"][0]["text"], "says how to target a thread"
    [result] = await bot.results(str(root["ts"]))
    job = await bot.job_of(result)
    assert [(r.source, r.caption) for r in job.references] == [("cat.png", "a cat"), ("room.png", "a room")]
    assert job.origin.thread_id == root["ts"]

    await slack.press(CHANNEL, result["ts"], ANN, control_id(result, "mb:delete:"))
    await slack.wait_for(lambda: not slack.bot_messages(CHANNEL), what="the whole /merge thread deleted")


async def test_slash_merge_without_images_explains_threads(bot: Harness, slack: SlackDouble) -> None:
    slack.post(CHANNEL, ANN, "no pictures here")
    await slack.slash_command(CHANNEL, ANN, "/merge", "something")
    [reply] = await slack.wait_for(lambda: slack.responses, what="the reply")
    assert reply["response_type"] == "ephemeral"
    assert "no images" in reply["text"] and "mention @mergebot" in reply["text"]
    assert "slash commands inside threads" in reply["text"]

    help_ack = await slack.slash_command(CHANNEL, ANN, "/merge", "")
    assert help_ack.payload == {"text": help_text({}), "response_type": "ephemeral"}
    await bot.idle()
    assert bot.openai.requests == []


async def test_slash_merge_where_the_bot_is_not_invited_says_so(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    slack.outside.add(CHANNEL)
    await slack.slash_command(CHANNEL, ANN, "/merge", "the cat")
    [reply] = await slack.wait_for(lambda: slack.responses, what="the reply")
    assert (reply["response_type"], reply["text"]) == ("ephemeral", CANNOT_READ)
    await bot.idle()
    assert bot.openai.requests == [] and slack.ephemeral == []


async def test_the_shortcut_where_the_bot_is_not_invited_says_so(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    slack.outside.add(CHANNEL)
    await slack.shortcut(CHANNEL, str(root["ts"]), ANN, SHORTCUT_ID)
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the merge modal")
    await slack.submit(view_id, ANN, {"prompt": "the cat"})
    [reply] = await slack.wait_for(lambda: slack.responses, what="the reply")
    assert (reply["response_type"], reply["text"]) == ("ephemeral", CANNOT_POST)
    await bot.idle()
    assert bot.openai.requests == []


async def test_a_long_thread_is_read_page_by_page(bot: Harness, slack: SlackDouble) -> None:
    slack.thread_page_size = 2
    root = slack.upload(CHANNEL, ANN, ("a.png", png(seed=1)))
    thread = str(root["ts"])
    for n in range(2, 5):
        slack.upload(CHANNEL, BOB, (f"{'abcd'[n - 1]}.png", png(seed=n)), thread_ts=thread)
    await slack.mention(CHANNEL, ANN, "all four", thread_ts=thread)
    [result] = await bot.results(thread)
    assert [r.source for r in (await bot.job_of(result)).references] == ["a.png", "b.png", "c.png", "d.png"]
    assert len(slack.calls_to("conversations.replies")) == 3


async def test_slack_connect_files_are_resolved_with_files_info(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), check_file_info=True)
    slack.upload(CHANNEL, BOB, ("room.png", png(seed=2)), thread_ts=str(root["ts"]))
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=str(root["ts"]))
    [result] = await bot.results(str(root["ts"]))
    assert [r.source for r in (await bot.job_of(result)).references] == ["cat.png", "room.png"]
    assert len(slack.calls_to("files.info")) == 1


async def test_a_file_the_bot_cannot_read_names_the_missing_scope(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    hidden = slack.upload(CHANNEL, BOB, ("secret.png", png(seed=2)), thread_ts=str(root["ts"]))
    slack.files[hidden["files"][0]].hidden = True
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=str(root["ts"]))
    [result] = await bot.results(str(root["ts"]))
    assert "secret.png" in result["text"] and AUTH_HINT in result["text"]
    assert len((await bot.job_of(result)).references) == 1


async def test_details_is_private_and_use_as_reference_adds_the_result(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)))
    thread = str(root["ts"])
    slack.upload(CHANNEL, ANN, ("room.png", png(seed=2)), thread_ts=thread)
    await slack.mention(CHANNEL, ANN, "merge", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)

    await slack.press(CHANNEL, first["ts"], BOB, control_id(first, "mb:details:"))
    [details] = await slack.wait_for(lambda: slack.ephemeral, what="the details")
    assert details["user"] == BOB and f"Merge {parent.id}" in details["text"]

    await slack.press(CHANNEL, first["ts"], ANN, control_id(first, "mb:use:"))
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the prompt modal")
    await slack.submit(view_id, ANN, {"prompt": "merge with C"})
    child = await bot.job_of((await bot.results(thread, 2))[-1])
    assert [r.label for r in child.references] == ["A", "B", "C"]
    assert child.action == "use:C"


async def test_many_references_collapse_into_a_select(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, *[(f"img{i}.png", png(32, 32, seed=i)) for i in range(7)])
    thread = str(root["ts"])
    await slack.mention(CHANNEL, ANN, "merge all seven", thread_ts=thread)
    [first] = await bot.results(thread)
    parent = await bot.job_of(first)
    select = next(
        e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "static_select"
    )
    assert [o["value"] for o in select["options"]] == [f"mb:more:{parent.id}:{label}" for label in "ABCDEFG"]

    await slack.press(CHANNEL, first["ts"], ANN, select["action_id"], option=f"mb:more:{parent.id}:F")
    child = await bot.job_of((await bot.results(thread, 2))[-1])
    assert child.action == "more:F"
