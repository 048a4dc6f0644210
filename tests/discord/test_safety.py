"""Nothing a person types comes back as a ping or a link; forms and refusals stay where they belong."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from adapters.discord.escape import escape, strip_markup
from tests.discord.conftest import RunningBot, World
from tests.discord.session import eventually, result_of, settled, thread_with_images
from tests.doubles.discord_double import DiscordDouble
from tests.imagegen import png

HOSTILE = "[Verify your account](https://evil.example/login) @everyone @here <@&424242> <@31337> <#777>"
SENDS = ("POST", "PATCH")


def bot_bodies(discord_api: DiscordDouble) -> list[dict[str, Any]]:
    """Every message body the bot sent or edited (channel messages, interaction answers, follow-ups)."""
    bodies = []
    for r in discord_api.requests:
        body = r.body.get("data") if "/callback" in r.path and isinstance(r.body, dict) else r.body
        if r.method in SENDS and isinstance(body, dict) and "content" in body:
            bodies.append(body)
    return bodies


def assert_inert(content: str) -> None:
    assert "](" not in content.replace("\\](", ""), content  # no masked link
    assert "https://" not in content, content  # no autolink
    for raw in ("@everyone", "@here", "<@&424242>", "<@31337>", "<#777>"):
        assert raw not in content.replace("\\<", "«"), content


def test_the_escape_keeps_the_words_and_drops_the_powers() -> None:
    shown = escape(HOSTILE)
    assert_inert(shown)
    assert shown.startswith(r"\[Verify your account\](https\://evil.example/login) @")
    assert escape(r"\[x](https://y)") == r"\\\[x\](https\://y)"  # a typed backslash cannot undo the escape
    assert escape("Merged A, B×2: “a cat”") == "Merged A, B×2: “a cat”"


async def test_a_hostile_prompt_and_caption_are_shown_inert_and_nobody_is_pinged(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, HOSTILE, files=[("cat.png", png(60, 60, 1))])
    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": HOSTILE})
    result = await result_of(discord_api, interaction)
    assert_inert(result["content"])
    assert "Verify your account" in result["content"]  # still readable

    details = next(c for c in _buttons(result) if c["label"] == "Details")
    pressed = await discord_api.press(result, world.bob, details["custom_id"])
    shown = await discord_api.wait_for(lambda: _answer_text(discord_api, pressed))
    assert "Verify your account" in shown
    assert_inert(shown)

    bodies = bot_bodies(discord_api)
    assert bodies
    for body in bodies:
        mentions = body.get("allowed_mentions")
        assert mentions is not None and mentions.get("parse") == [] and not mentions.get("roles"), body
        assert not mentions.get("users") and not mentions.get("replied_user"), body


async def test_refused_reactions_are_told_once_a_minute_without_a_ping(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "two into one"})
    result = await result_of(discord_api, interaction)
    assert bot.service is not None
    await eventually(lambda: bot.service.job_for_message("discord", result["id"]) if bot.service else None)

    for _ in range(4):
        await discord_api.react(result, world.bob, "🗑️")
        await asyncio.sleep(0.05)
    await discord_api.wait_for(lambda: _refusals(discord_api, thread))
    await asyncio.sleep(0.5)  # room for the other three to arrive, were they sent
    [refusal] = _refusals(discord_api, thread)
    assert world.bob["id"] in refusal["content"], "it names who it is for"
    posted = [b for b in bot_bodies(discord_api) if "Only the person" in str(b.get("content"))]
    assert [b["allowed_mentions"]["parse"] for b in posted] == [[]]
    assert not posted[0]["allowed_mentions"].get("users")


async def test_a_from_here_form_cannot_reach_into_another_channel(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    secret_room = discord_api.add_channel(world.guild, "private-room")
    start = await discord_api.post_message(
        secret_room, world.alice, "private", files=[("secret.png", png(60, 60, 9))]
    )
    menu = await discord_api.message_command(secret_room, world.alice, "Merge images from here", start)
    await discord_api.wait_for(lambda: menu.modal is not None)

    # Bob replays Alice's form (its custom id names her message) from a channel of his own.
    forged = replace(menu, channel_id=world.channel["id"])
    submitted = await discord_api.submit_modal(forged, world.bob, {"prompt": "show me"})
    answer = await settled(discord_api, submitted)

    assert "Merged" not in answer["content"] and not answer["attachments"]
    assert not any(r.path.endswith("secret.png") or "secret" in r.url_path for r in discord_api.requests)
    assert not any("secret.png" in path for path, _ in discord_api.cdn_hits)


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components", []) for c in row.get("components", []) if c.get("type") == 2]


def _answer_text(discord_api: DiscordDouble, interaction: Any) -> str | None:
    for r in discord_api.requests:
        if interaction.token in r.url_path and r.method in SENDS and isinstance(r.body, dict):
            content = r.body.get("content")
            if content and "Prompt" in content:
                return str(content)
    return None


def _refusals(discord_api: DiscordDouble, thread: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in discord_api.bot_messages(thread) if "Only the person" in m["content"]]


async def test_a_file_name_decoded_from_a_link_cannot_ping_or_break_lines_in_the_reply(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    link = "https://evil.example/cat%0A%40everyone%0A%3C%40%26424242%3E.png"
    embed = {"type": "image", "url": link, "thumbnail": {"url": link}}
    await discord_api.post_message(world.channel, world.bob, "", embeds=[embed])
    await discord_api.post_message(world.channel, world.bob, "ok", files=[("ok.png", png(60, 60, 2))])
    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "the good one"})
    result = await result_of(discord_api, interaction)

    assert "Skipped" in result["content"] and "evil.example" in result["content"]
    assert_inert(result["content"])
    for body in bot_bodies(discord_api):
        assert body["allowed_mentions"]["parse"] == []


def test_captions_keep_the_words_of_links_and_lose_mentions() -> None:
    assert strip_markup(HOSTILE + " look") == "Verify your account look"
    assert strip_markup("the [cliffs](<https://x.example/a>) at dusk") == "the cliffs at dusk"


async def test_a_caption_with_links_and_mentions_reaches_the_sheet_as_words(
    bot: RunningBot, discord_api: DiscordDouble, world: World
) -> None:
    await discord_api.post_message(world.channel, world.bob, HOSTILE + " a cat", files=[("cat.png", png(60, 60, 1))])
    interaction = await discord_api.slash_command(world.channel, world.alice, "merge", {"prompt": "the cat"})
    result = await result_of(discord_api, interaction)
    assert bot.service is not None
    job = await eventually(lambda: bot.service.job_for_message("discord", result["id"]) if bot.service else None)
    [reference] = job.references
    assert "Verify your account a cat" in reference.caption
    for raw in ("evil.example", "<@", "@everyone"):
        assert raw not in reference.caption
