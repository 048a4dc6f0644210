"""Discord history -> image sources for the core, oldest first.

Attachments and image embeds count; the bot's own messages do not (earlier
results join only through "Use as reference"). Each source carries its author
and the message text as caption. Large images are asked from the media proxy at
a size that fits the reference sheet, with the original as the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import discord
import yarl

from bot.labels import part_with_letters
from bot.model import ImageSource

from .escape import strip_markup

logger = logging.getLogger(__name__)

CHANNEL_HISTORY_LIMIT = 50
THREAD_HISTORY_LIMIT = 1000  # the core's image limit refuses big threads long before this
FROM_HERE_LIMIT = 100
THREAD_STARTER_TYPE = discord.MessageType.thread_starter_message


def media_url(proxy_url: str, width: int, height: int, longest_side: int) -> str | None:
    """A media proxy rendition no larger than ``longest_side``, or None when the original is small enough."""
    if not proxy_url or max(width, height) <= longest_side or width <= 0 or height <= 0:
        return None
    scale = longest_side / max(width, height)
    url = yarl.URL(proxy_url)
    return str(url.update_query(width=max(1, round(width * scale)), height=max(1, round(height * scale))))


def attachment_source(
    attachment: discord.Attachment, *, caption: str, author: str, longest_side: int, message_id: str = ""
) -> ImageSource:
    """An image source for one attachment (the core sniffs the bytes and names files it refuses)."""
    resized = media_url(attachment.proxy_url, attachment.width or 0, attachment.height or 0, longest_side)
    return ImageSource(
        name=attachment.filename,
        url=resized or attachment.url,
        fallback_url=attachment.url if resized else None,
        caption=caption,
        author=author,
        size_hint=attachment.size,
        message_id=message_id,
        content_type=attachment.content_type or "",
    )


def embed_source(
    embed: discord.Embed, index: int, *, caption: str, author: str, message_id: str = ""
) -> ImageSource | None:
    """An image source for an image embed (a linked picture or an embed with an image), if any."""
    picture: Any = embed.image if embed.image.url else None
    if picture is None and embed.type in ("image", "gifv") and embed.thumbnail.url:
        picture = embed.thumbnail
    if picture is None:
        return None
    url = picture.proxy_url or picture.url
    fallback = picture.url if picture.proxy_url and picture.url != picture.proxy_url else None
    name = yarl.URL(str(picture.url)).name or f"embed-{index}"
    return ImageSource(
        name=name, url=str(url), fallback_url=fallback, caption=caption, author=author, message_id=message_id
    )


def sources_from(messages: Iterable[discord.Message], *, bot_id: int, longest_side: int) -> tuple[ImageSource, ...]:
    """Every image in ``messages`` (oldest first), skipping the bot's own posts."""
    sources: list[ImageSource] = []
    for message in messages:
        if message.author.id == bot_id:
            continue
        author = message.author.display_name
        caption = strip_markup(message.content)
        key = str(message.id)
        for attachment in message.attachments:
            sources.append(
                attachment_source(attachment, caption=caption, author=author, longest_side=longest_side, message_id=key)
            )
        for index, embed in enumerate(message.embeds):
            found = embed_source(embed, index, caption=caption, author=author, message_id=key)
            if found is not None:
                sources.append(found)
    return tuple(sources)


def option_sources(
    attachments: Iterable[discord.Attachment], *, author: str, longest_side: int
) -> tuple[ImageSource, ...]:
    """Sources for files attached to the /merge command itself (no caption: the prompt says it all)."""
    return tuple(attachment_source(a, caption="", author=author, longest_side=longest_side) for a in attachments)


def from_message_on(sources: Sequence[ImageSource], start_id: int) -> tuple[ImageSource, ...]:
    """The sources of message ``start_id`` and the ones after it, each keeping the letter the whole
    conversation gives it, so "Merge images from here" on the cliffs a thread calls B keeps B."""
    return part_with_letters(sources, lambda source: bool(source.message_id) and int(source.message_id) >= start_id)


async def thread_messages(thread: discord.Thread) -> list[discord.Message]:
    """A thread's messages, oldest first, its starter message (in the parent channel) included."""
    collected: dict[int, discord.Message] = {}
    starter = await _starter_message(thread)
    if starter is not None:
        collected[starter.id] = starter
    async for message in thread.history(limit=THREAD_HISTORY_LIMIT, oldest_first=True):
        if message.type is THREAD_STARTER_TYPE:
            continue
        collected.setdefault(message.id, message)
    return [collected[key] for key in sorted(collected)]


async def _starter_message(thread: discord.Thread) -> discord.Message | None:
    if thread.starter_message is not None:
        return thread.starter_message
    parent = thread.parent
    if not isinstance(parent, discord.TextChannel):
        return None  # forum posts keep their starter inside the thread
    try:
        return await parent.fetch_message(thread.id)
    except (discord.NotFound, discord.Forbidden):
        return None


async def channel_messages(
    channel: discord.abc.Messageable,
    *,
    since_message_id: int | None,
    before_id: int,
    limit: int = CHANNEL_HISTORY_LIMIT,
) -> list[discord.Message]:
    """The last ``limit`` messages before ``before_id``, or those after ``since_message_id`` if fewer; oldest first.

    ``before_id`` is the command's interaction id, so the bot's own "thinking" message
    (posted when the command was acknowledged) does not take one of the places.
    """
    recent: list[discord.Message] = []
    async for message in channel.history(limit=limit, before=discord.Object(id=before_id)):
        if since_message_id is not None and message.id <= since_message_id:
            break
        recent.append(message)
    recent.reverse()
    return recent


async def messages_from(
    message: discord.Message, *, before_id: int, limit: int = FROM_HERE_LIMIT
) -> list[discord.Message]:
    """``message`` and the ones after it in its channel up to ``before_id`` (the request), oldest first."""
    collected = [message]
    history: AsyncIterator[discord.Message] = message.channel.history(
        limit=limit - 1, after=message, before=discord.Object(id=before_id), oldest_first=True
    )
    async for later in history:
        collected.append(later)
    return collected
