"""Steps of a person's Discord session, shared by the scenario tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tests.doubles.discord_double import DiscordDouble, Interaction, button_labels
from tests.imagegen import png

T = TypeVar("T")


async def thread_with_images(
    discord_api: DiscordDouble, channel: dict[str, Any], person: dict[str, Any], count: int = 3
) -> dict[str, Any]:
    """``person`` posts image A, opens a thread on it, and posts the other images there."""
    starter = await discord_api.post_message(
        channel, person, "refs for the poster", files=[("a.png", png(96, 64, seed=1))]
    )
    thread = await discord_api.start_thread(starter, "poster refs")
    for index in range(1, count):
        letter = chr(ord("a") + index)
        await discord_api.post_message(
            thread, person, f"option {letter}", files=[(f"{letter}.png", png(80, 80, seed=index + 1))]
        )
    return thread


def original(discord_api: DiscordDouble, interaction: Interaction) -> dict[str, Any] | None:
    """The message that answers ``interaction`` (its status message), if posted."""
    if interaction.original_message_id is None:
        return None
    return discord_api.message(interaction.original_message_id)


async def result_of(discord_api: DiscordDouble, interaction: Interaction) -> dict[str, Any]:
    """Wait until the status message of ``interaction`` shows a result with its buttons."""

    def finished() -> dict[str, Any] | None:
        message = original(discord_api, interaction)
        if message and message["attachments"] and "Retry" in button_labels(message):
            return message
        return None

    found: dict[str, Any] = await discord_api.wait_for(finished)
    return found


async def settled(discord_api: DiscordDouble, interaction: Interaction) -> dict[str, Any]:
    """Wait until the status message of ``interaction`` stops loading and shows text; return it."""

    def done() -> dict[str, Any] | None:
        message = original(discord_api, interaction)
        if message and not message["flags"] & 128 and message["content"] and not message["content"].startswith(
            ("Fetching", "Building", "Reference sheet", "Generating", "Queued")
        ):
            return message
        return None

    found: dict[str, Any] = await discord_api.wait_for(done)
    return found


def status_edits(discord_api: DiscordDouble, interaction: Interaction) -> list[dict[str, Any]]:
    """The bodies of every edit the bot made to the status message of ``interaction``."""
    return [
        r.body
        for r in discord_api.requests_to("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original")
        if interaction.token in r.url_path
    ]


def uploaded_names(discord_api: DiscordDouble, interaction: Interaction) -> list[str]:
    """File names uploaded with each edit of the status message, in order."""
    names: list[str] = []
    for r in discord_api.requests_to("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"):
        if interaction.token in r.url_path:
            names.extend(filename for filename, _ in r.files.values())
    return names


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    """Poll an async ``check`` (e.g. a store lookup the double cannot see) until it returns a value."""
    async with asyncio.timeout(within):
        while True:
            value = await check()
            if value is not None:
                return value
            await asyncio.sleep(0.02)


async def delete_with_confirmation(
    discord_api: DiscordDouble, message: dict[str, Any], person: dict[str, Any]
) -> Interaction:
    """``person`` presses Delete on ``message``, then "Yes, delete it" in the private question."""
    asked = await discord_api.press(message, person, button_labels(message)["Delete"])
    question: dict[str, Any] = await discord_api.wait_for(
        lambda: (m := original(discord_api, asked)) is not None and "Yes, delete it" in button_labels(m) and m
    )
    return await discord_api.press(question, person, button_labels(question)["Yes, delete it"])
