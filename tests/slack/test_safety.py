"""Nothing a person types comes back as a ping or a link; the token stays with Slack; a replayed
press runs once; a spammed refusal is told once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from adapters.slack.commands import SHORTCUT_ID
from adapters.slack.escape import escape, strip_markup
from tests.doubles.server import serve_locally
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png

from .conftest import ANN, BOB, CHANNEL, Harness, control_id

HOSTILE_PROMPT = "the cat <!channel> <!here> <!subteam^S0ADMINS> <@U0BOB> <https://evil.example/login|Verify now>"
HOSTILE_CAPTION = "<!channel> look <https://evil.example/login|Verify your account> <@U0BOB> &amp; <#C0SECRET|secret>"
RAW = ("<!channel>", "<!here>", "<!subteam^", "<@U0BOB>", "<https://", "<#C0SECRET")


def texts_sent(slack: SlackDouble) -> list[str]:
    """The ``text`` field of every message the bot posted, updated or sent ephemerally."""
    return [
        str(c.args.get("text") or "")
        for method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
        for c in slack.calls_to(method)
    ] + [str(r.get("text") or "") for r in slack.responses]


def test_strip_markup_keeps_words_and_drops_addresses_and_broadcasts() -> None:
    assert strip_markup(HOSTILE_CAPTION) == "look Verify your account &"
    assert escape("<!here> & <b>") == "&lt;!here&gt; &amp; &lt;b&gt;"


async def test_hostile_prompt_and_caption_reach_nobody_as_pings_or_links(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, BOB, ("cat.png", png(seed=1)), text=HOSTILE_CAPTION)
    await slack.slash_command(CHANNEL, ANN, "/merge", HOSTILE_PROMPT)
    root = await slack.wait_for(
        lambda: next((m for m in slack.bot_messages(CHANNEL) if "asked me to merge" in m["text"]), None),
        what="the /merge thread",
    )
    [result] = await bot.results(str(root["ts"]))
    job = await bot.job_of(result)
    assert [r.caption for r in job.references] == ["look Verify your account &"]
    assert "Verify now" in result["text"]

    await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:details:"))
    await slack.wait_for(lambda: slack.calls_to("chat.postEphemeral"), what="the details")
    await bot.idle()
    sent = texts_sent(slack)
    assert any("Verify your account" in t for t in sent), "the caption is shown in Details"
    for text in sent:
        for raw in RAW:
            assert raw not in text, (raw, text)
    assert any(t.startswith(f"<@{ANN}> asked me") for t in sent), "the bot's own mention of the requester stays"


@pytest.fixture
async def other_host() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An allowed media host that is not Slack's (``localhost``), recording each request's headers."""
    seen: list[dict[str, str]] = []

    async def serve(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=png(seed=5), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner, port = await serve_locally(app, host="localhost")
    try:
        yield f"http://localhost:{port}", seen
    finally:
        await runner.cleanup()


async def test_the_bot_token_goes_only_to_slack_s_file_hosts(
    bot: Harness, slack: SlackDouble, other_host: tuple[str, list[dict[str, str]]]
) -> None:
    base, seen = other_host
    bot.settings = replace(bot.settings, media_hosts=("127.0.0.1", "localhost"))
    await bot.restart()
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    linked = slack.add_file("drive.png", png(seed=5), user=BOB, external_url=f"{base}/drive.png")
    slack.post(CHANNEL, BOB, "from my drive", thread_ts=str(root["ts"]), files=(linked,))

    await slack.mention(CHANNEL, ANN, "merge them", thread_ts=str(root["ts"]))
    [result] = await bot.results(str(root["ts"]))
    job = await bot.job_of(result)

    assert [r.source for r in job.references] == ["cat.png", "drive.png"]
    assert seen and all("Authorization" not in headers for headers in seen), seen
    assert slack.file_requests and all(ok for _, ok in slack.file_requests), "Slack's own files still got it"


async def test_a_replayed_button_press_runs_once(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    await slack.mention(CHANNEL, ANN, "merge it", thread_ts=str(root["ts"]))
    [result] = await bot.results(str(root["ts"]))

    await slack.press(CHANNEL, result["ts"], ANN, control_id(result, "mb:retry:"))
    await bot.results(str(root["ts"]), count=2)
    kind, press = slack.deliveries[-1]
    await slack.deliver(kind, press)  # the same signed payload, sent again within the window
    await asyncio.sleep(0.3)
    await bot.idle()

    assert len(bot.openai.requests) == 2
    assert len(await bot.results(str(root["ts"]), count=2)) == 2


async def test_a_replayed_slash_command_merges_once(bot: Harness, slack: SlackDouble) -> None:
    slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    await slack.slash_command(CHANNEL, ANN, "/merge", "the cat")
    root = await slack.wait_for(
        lambda: next((m for m in slack.bot_messages(CHANNEL) if "asked me to merge" in m["text"]), None),
        what="the /merge thread",
    )
    await bot.results(str(root["ts"]))
    kind, command = slack.deliveries[-1]
    await slack.deliver(kind, command, accepts_response_payload=True)
    await asyncio.sleep(0.3)
    await bot.idle()

    assert len(bot.openai.requests) == 1
    assert len([m for m in slack.bot_messages(CHANNEL) if "asked me to merge" in m["text"]]) == 1


async def test_a_replayed_merge_form_submission_merges_once(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    await slack.shortcut(CHANNEL, str(root["ts"]), ANN, SHORTCUT_ID)
    view_id = await slack.wait_for(lambda: next(iter(slack.views), None), what="the merge modal")
    await slack.submit(view_id, ANN, {"prompt": "the cat"})
    await bot.results(str(root["ts"]))
    kind, submission = slack.deliveries[-1]
    await slack.deliver(kind, submission)
    await asyncio.sleep(0.3)
    await bot.idle()

    assert len(bot.openai.requests) == 1


async def test_a_spammed_refused_press_is_told_once_a_minute(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    await slack.mention(CHANNEL, ANN, "merge it", thread_ts=str(root["ts"]))
    [result] = await bot.results(str(root["ts"]))

    for _ in range(4):  # Bob may not delete Ann's merge
        await slack.press(CHANNEL, result["ts"], BOB, control_id(result, "mb:delete:"))
    await slack.wait_for(lambda: _refusals(slack), what="the refusal")
    await asyncio.sleep(0.3)
    await bot.idle()

    [refusal] = _refusals(slack)
    assert refusal.get("user") == BOB or refusal.get("response_type") == "ephemeral"
    assert slack.message(CHANNEL, result["ts"]) is not None


def _refusals(slack: SlackDouble) -> list[dict[str, Any]]:
    told = [c.args for c in slack.calls_to("chat.postEphemeral") if "Only the person" in str(c.args.get("text"))]
    return told + [r for r in slack.responses if "Only the person" in str(r.get("text"))]


async def test_a_flooded_thread_costs_a_bounded_number_of_pages(bot: Harness, slack: SlackDouble) -> None:
    root = slack.upload(CHANNEL, ANN, ("cat.png", png(seed=1)), text="a cat")
    thread = str(root["ts"])
    for number in range(1_200):
        slack.post(CHANNEL, BOB, f"spam {number}", thread_ts=thread)

    await slack.mention(CHANNEL, ANN, "merge it", thread_ts=thread)
    [result] = await bot.results(thread)

    assert len((await bot.job_of(result)).references) == 1
    assert len(slack.calls_to("conversations.replies")) <= 5  # 1,000 messages at 200 a page; 7 pages before


async def test_older_slack_connect_stubs_past_the_limit_are_never_looked_up(bot: Harness, slack: SlackDouble) -> None:
    root = slack.post(CHANNEL, ANN, "refs from our partner workspace")
    thread = str(root["ts"])
    for number in range(40):
        slack.upload(CHANNEL, BOB, (f"p{number}.png", png(24, 24, seed=number)), thread_ts=thread, check_file_info=True)

    await slack.mention(CHANNEL, ANN, "merge the newest", thread_ts=thread)
    [result] = await bot.results(thread)
    job = await bot.job_of(result)

    limit = bot.settings.limits.max_images
    assert [r.source for r in job.references] == [f"p{n}.png" for n in range(40 - limit, 40)]
    assert len(slack.calls_to("files.info")) == limit  # 40 before: one per stub
    assert "Left out 24 older Slack Connect files" in result["text"]
