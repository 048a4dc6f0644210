"""Putting images into Slack with ``files_upload_v2`` (getUploadURLExternal, the upload URL,
completeUploadExternal) and reading back where the file was shared."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .context import SlackContext
from .webapi import call, message_key

log = logging.getLogger(__name__)

UPLOAD_MAX_BYTES = 1024 * 1024 * 1024  # Slack's file size limit
PREVIEW_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Uploaded:
    """A file the bot put into Slack."""

    file_id: str
    share_key: str | None  # channel:ts of the message that shows the file, when Slack said so


@dataclass(frozen=True)
class Upload:
    """One image to put into Slack."""

    data: bytes
    filename: str
    title: str


async def upload(
    ctx: SlackContext,
    data: bytes,
    filename: str,
    title: str,
    *,
    channel: str | None = None,
    thread_ts: str | None = None,
    max_bytes: int = UPLOAD_MAX_BYTES,
) -> Uploaded | None:
    """Upload ``data`` (fitted to ``max_bytes``) into a thread, or privately when ``channel`` is None."""
    uploaded = await upload_together(
        ctx, [Upload(data, filename, title)], channel=channel, thread_ts=thread_ts, max_bytes=max_bytes
    )
    return uploaded[0] if uploaded else None


async def upload_together(
    ctx: SlackContext,
    uploads: list[Upload],
    *,
    channel: str | None = None,
    thread_ts: str | None = None,
    max_bytes: int = UPLOAD_MAX_BYTES,
) -> list[Uploaded] | None:
    """Upload several images (each fitted to ``max_bytes``) as one file message in a thread, or
    privately when ``channel`` is None; None when Slack refused."""
    items: list[dict[str, Any]] = []
    for item in uploads:
        try:
            fitted, extension = await ctx.service.fit_for_upload(item.data, max_bytes)
        except Exception:
            log.exception("could not fit %s into %d bytes for Slack", item.filename, max_bytes)
            return None
        stem = item.filename.rsplit(".", 1)[0]
        items.append({"file": fitted, "filename": f"{stem}.{extension}", "title": item.title})
    kwargs: dict[str, Any] = {"file_uploads": items}
    if channel is not None:
        kwargs["channel"] = channel
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
    response = await call("files.upload_v2", ctx.client.files_upload_v2(**kwargs))
    if response is None:
        return None
    files = [f for f in response.get("files") or [] if isinstance(f, dict) and isinstance(f.get("id"), str)]
    if len(files) != len(uploads):
        return None
    return [Uploaded(str(f["id"]), _share_key(f, channel)) for f in files]


def _share_key(file: dict[str, Any], channel: str | None) -> str | None:
    """Slack may fill ``shares`` later; when it already says where the file is, keep that message."""
    if channel is None:
        return None
    for kind in ("public", "private"):
        for share in (file.get("shares") or {}).get(kind, {}).get(channel, []):
            ts = share.get("ts")
            if isinstance(ts, str):
                return message_key(channel, ts)
    return None
