"""Image files of a thread or a channel, as the core's ``ImageSource`` values.

Slack lists files on messages; each becomes a source whose download the core does with
the bot token attached. Thumbnails (``thumb_1024`` or the largest one) are preferred,
with ``url_private`` as the fallback. Slack Connect files that arrive as
``file_access: check_file_info`` stubs are resolved with ``files.info``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.labels import part_with_letters
from bot.model import ImageSource

from .context import SlackContext
from .escape import strip_markup
from .webapi import call

log = logging.getLogger(__name__)

AUTH_HINT = "add the files:read scope / invite the bot to the channel"
PAGE_SIZE = 200
THREAD_SCAN_MESSAGES = 1000  # as Discord's THREAD_HISTORY_LIMIT: a flooded thread costs at most 5 pages
CHANNEL_SCAN_MESSAGES = 30
THUMB_KEY = re.compile(r"^thumb_(\d+)$")
# Where Slack itself serves url_private and thumbnails: the only hosts that get the bot token.
SLACK_FILE_HOSTS = frozenset(
    {"files.slack.com", "files-edu.slack.com", "files-gov.slack.com", "files-origin.slack.com", "slack-files.com"}
)


@dataclass(frozen=True)
class Found:
    """What a gather turned up: image sources in order, and files skipped as not images."""

    sources: tuple[ImageSource, ...]
    skipped: tuple[str, ...]
    unchecked: int = 0  # older Slack Connect files not looked up: the newest images already fill the merge

    def note(self) -> str:
        """A line for the reply about files that were left out, or ""."""
        lines = ""
        if self.skipped:
            what = "not an image" if len(self.skipped) == 1 else "not images"
            lines += f"\nSkipped {', '.join(self.skipped)}: {what}."
        if self.unchecked:
            files = "file" if self.unchecked == 1 else "files"
            lines += f"\nLeft out {self.unchecked} older Slack Connect {files}: the newest images fill the merge."
        return lines


def clean_text(text: str) -> str:
    """Message text as plain words: no mentions, broadcasts or link addresses (``escape.strip_markup``)."""
    return strip_markup(text)


def token_goes_to(ctx: SlackContext, url: str) -> bool:
    """Whether ``url`` is on one of Slack's own file hosts (or the configured API's origin, which
    has the token anyway): an external file's link on another allowed host never gets it."""
    parts = urlsplit(url)
    if parts.scheme == "https" and (parts.hostname or "").lower() in SLACK_FILE_HOSTS:
        return True
    api = urlsplit(ctx.settings.slack_api_url)
    return (parts.scheme, parts.netloc.lower()) == (api.scheme, api.netloc.lower())


def is_image(file: Mapping[str, Any]) -> bool:
    """Whether Slack says the file is an image (the core still checks the bytes)."""
    return str(file.get("mimetype", "")).startswith("image/")


def best_url(file: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(url, fallback_url)``: thumb_1024 or the largest thumb with url_private as fallback."""
    original = file.get("url_private")
    thumbs = sorted(
        ((int(m[1]), str(v)) for k, v in file.items() if (m := THUMB_KEY.match(k)) and isinstance(v, str) and v),
        reverse=True,
    )
    if thumbs:
        preferred = next((url for size, url in thumbs if size == 1024), thumbs[0][1])
        return preferred, str(original) if original else None
    return (str(original), None) if original else None


async def thread_images(ctx: SlackContext, channel: str, thread_ts: str) -> Found:
    """Every image file of a thread's first ``THREAD_SCAN_MESSAGES`` messages, oldest first."""
    return await _sources(ctx, await thread_messages(ctx, channel, thread_ts))


async def thread_messages(ctx: SlackContext, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """A thread's first ``THREAD_SCAN_MESSAGES`` messages, oldest first (``conversations.replies``)."""
    messages: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(messages) < THREAD_SCAN_MESSAGES:
        response = await call(
            "conversations.replies",
            ctx.client.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE_SIZE, cursor=cursor),
        )
        if response is None:
            break
        messages.extend(response.get("messages") or [])
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return messages[:THREAD_SCAN_MESSAGES]


async def images_from(ctx: SlackContext, channel: str, ts: str, thread_ts: str | None) -> Found:
    """"Merge images from here": the message ``ts`` and the ones after it, oldest first. In a
    thread (``thread_ts``) that is the rest of the thread; else the channel from there on."""
    if thread_ts is not None:  # the whole thread gives the letters, so the chosen part keeps them
        start = float(ts)
        whole = await _sources(ctx, await thread_messages(ctx, channel, thread_ts), from_ts=start)
        later = part_with_letters(whole.sources, lambda source: float(source.message_id or 0) >= start)
        return Found(later, whole.skipped)
    response = await call(
        "conversations.history",
        ctx.client.conversations_history(channel=channel, oldest=ts, inclusive=True, limit=CHANNEL_SCAN_MESSAGES),
    )
    newest_first = list(response.get("messages") or []) if response is not None else []
    return await _sources(ctx, list(reversed(newest_first)))


async def channel_images(ctx: SlackContext, channel: str, limit: int) -> Found | None:
    """Images from the channel's recent top-level messages: the newest ``limit``, oldest first;
    None when Slack would not let the bot read the channel."""
    response = await call(
        "conversations.history", ctx.client.conversations_history(channel=channel, limit=CHANNEL_SCAN_MESSAGES)
    )
    if response is None:
        return None
    newest_first = list(response.get("messages") or [])
    kept: list[dict[str, Any]] = []
    count = 0
    for message in newest_first:
        if count >= limit:
            break
        if _from_bot(ctx, message):
            continue
        files = [f for f in message.get("files") or [] if is_image(f) or f.get("file_access") == "check_file_info"]
        if files:
            kept.append(message | {"files": files[: limit - count]})
            count += len(files)
    return await _sources(ctx, list(reversed(kept)))


def _from_bot(ctx: SlackContext, message: Mapping[str, Any]) -> bool:
    return message.get("user") == ctx.identity.user_id or message.get("bot_id") == ctx.identity.bot_id


def _stubs_worth_a_lookup(ctx: SlackContext, messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """Ids of the ``check_file_info`` stubs among the newest files that can still fill the merge.

    The core keeps the newest images; a stub older than enough images is never merged, so it is
    never looked up (``files.info`` once per stub would let a flooded thread cost hundreds of calls).
    """
    wanted: set[str] = set()
    room = ctx.settings.limits.max_images
    for message in reversed(messages):
        if _from_bot(ctx, message):
            continue
        for listed in reversed(message.get("files") or []):
            if room <= 0:
                return wanted
            if listed.get("file_access") == "check_file_info":
                wanted.add(str(listed.get("id")))
                room -= 1
            elif is_image(listed):
                room -= 1
    return wanted


async def images_in(ctx: SlackContext, messages: Sequence[Mapping[str, Any]]) -> Found:
    """The image files of ``messages`` (the bot's own left out), in order."""
    return await _sources(ctx, messages)


def from_bot(ctx: SlackContext, message: Mapping[str, Any]) -> bool:
    """Whether mergebot itself posted ``message``."""
    return _from_bot(ctx, message)


async def _sources(ctx: SlackContext, messages: Sequence[Mapping[str, Any]], *, from_ts: float = 0.0) -> Found:
    """The messages' files as sources; files skipped in messages before ``from_ts`` go unreported."""
    sources: list[ImageSource] = []
    skipped: list[str] = []
    unchecked = 0
    lookups = _stubs_worth_a_lookup(ctx, messages)
    for message in messages:
        if _from_bot(ctx, message):
            continue
        report = skipped if float(message.get("ts") or 0) >= from_ts else []
        caption = clean_text(str(message.get("text") or ""))
        author = (await ctx.people.get(str(message["user"]))).name if message.get("user") else ""
        for listed in message.get("files") or []:
            if listed.get("file_access") == "check_file_info" and str(listed.get("id")) not in lookups:
                unchecked += 1
                continue
            file = await _resolve(ctx, listed)
            if file is None:
                report.append(str(listed.get("name") or listed.get("id") or "a file"))
                continue
            name = str(file.get("name") or file.get("id"))
            urls = best_url(file)
            if urls is None:
                report.append(name)
                continue
            size = file.get("size")
            url, fallback = urls
            with_token = token_goes_to(ctx, url)
            if fallback is not None and token_goes_to(ctx, fallback) != with_token:
                fallback = None  # one source has one set of headers: never the token to a foreign host
            sources.append(
                ImageSource(
                    name=name,
                    url=url,
                    fallback_url=fallback,
                    headers={"Authorization": f"Bearer {ctx.token}"} if with_token else {},
                    caption=caption,
                    author=author,
                    size_hint=int(size) if isinstance(size, int) else None,
                    auth_hint=AUTH_HINT,
                    message_id=str(message.get("ts") or ""),
                    content_type=str(file.get("mimetype") or ""),
                )
            )
    return Found(tuple(sources), tuple(skipped), unchecked)


async def _resolve(ctx: SlackContext, file: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The full file object; Slack Connect stubs (``check_file_info``) are looked up."""
    if file.get("file_access") != "check_file_info":
        return file
    response = await call("files.info", ctx.client.files_info(file=str(file.get("id"))))
    resolved = response.get("file") if response is not None else None
    return resolved if isinstance(resolved, dict) else None
