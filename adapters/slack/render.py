"""Core outcomes shown in Slack: the result uploaded into the thread with ``files_upload_v2``
and a message with the controls, failures in the status message, private answers as
ephemeral messages, and Delete removing what a job posted."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.model import Job, Outcome

from . import blocks
from .context import SlackContext
from .progress import StatusMessage
from .uploads import upload
from .webapi import call, message_key, must_land, split_message_key

log = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT_S = 10
MERGE_CRASHED = "Something went wrong on my side and the merge did not finish. Try again in a moment."
ACTION_CRASHED = "Something went wrong on my side; nothing was changed. Try again in a moment."
UPLOAD_FAILED = "\n(I made the image but Slack refused the upload; press Retry to try again.)"


async def show_outcome(
    ctx: SlackContext,
    outcome: Outcome,
    status: StatusMessage,
    user_id: str,
    note: str = "",
    *,
    private_refusal: bool = False,
) -> None:
    """Render what ``merge``/``act`` answered in the status message's thread.

    With ``private_refusal`` (a control or reaction), a refusal that never started a job is
    told only to the person who pressed, instead of in the thread.
    """
    view = outcome.view
    await status.settle()  # no progress edit may land after (or instead of) the outcome
    if outcome.job is not None and status.job_id is None and not outcome.deleted and not view.ephemeral:
        status.job_id = outcome.job.id
    try:
        await _show(ctx, outcome, status, user_id, note, private_refusal)
    finally:
        await status.flush()


async def _show(
    ctx: SlackContext, outcome: Outcome, status: StatusMessage, user_id: str, note: str, private_refusal: bool
) -> None:
    view = outcome.view
    if outcome.deleted and outcome.job is not None:
        await delete_job_messages(ctx, outcome.job)
        await ephemeral(ctx, status.channel, user_id, status.thread_ts, view.text)
        return
    if view.ephemeral or (private_refusal and not outcome.ok and status.ts is None):
        await ephemeral(ctx, status.channel, user_id, status.thread_ts, view.text)
        return
    if not outcome.ok or view.image is None:
        await status.finish(f"⚠️ {view.text}{note}", blocks.control_blocks(view.controls))
        return
    await status.finish("✅ Done. The result is below.")
    text = view.text + note
    uploaded = await upload(
        ctx,
        view.image,
        view.image_name or "mergebot.png",
        "Merged image",
        channel=status.channel,
        thread_ts=status.thread_ts,
    )
    if uploaded is None:
        text += UPLOAD_FAILED
    else:
        await status.record("result-file", uploaded.file_id)
        if uploaded.share_key is not None:
            await status.record("result-share", uploaded.share_key)
    kwargs: dict[str, Any] = {
        "channel": status.channel,
        "text": blocks.fallback_text(text),
        "blocks": blocks.view_blocks(view, note if uploaded is not None else note + UPLOAD_FAILED),
    }
    if status.thread_ts is not None:
        kwargs["thread_ts"] = status.thread_ts
    client = ctx.paced_client
    posted = (await must_land("chat.postMessage", lambda: client.chat_postMessage(**kwargs))).response
    if posted is not None:
        await status.record("result", message_key(status.channel, str(posted["ts"])))


async def ephemeral(ctx: SlackContext, channel: str, user_id: str, thread_ts: str | None, text: str) -> None:
    """A message only ``user_id`` sees."""
    kwargs: dict[str, Any] = {
        "channel": channel,
        "user": user_id,
        "text": blocks.fallback_text(text),
        "blocks": [blocks.section(text)],
    }
    if thread_ts is not None:
        kwargs["thread_ts"] = thread_ts
    await call("chat.postEphemeral", ctx.client.chat_postEphemeral(**kwargs))


async def reply_privately(
    ctx: SlackContext, channel: str, user_id: str, thread_ts: str | None, text: str, response_url: str | None
) -> None:
    """Answer only ``user_id``: through ``response_url`` when there is one, else ephemerally."""
    if not await _respond_privately(response_url, text):
        await ephemeral(ctx, channel, user_id, thread_ts, text)


async def _respond_privately(response_url: str | None, text: str) -> bool:
    """Answer only the person through an interaction's ``response_url``; unlike
    ``chat.postEphemeral`` this works in a channel the bot was not invited to."""
    if not response_url:
        return False
    webhook = AsyncWebhookClient(response_url, timeout=RESPONSE_URL_TIMEOUT_S)
    try:
        answer = await webhook.send(
            text=blocks.fallback_text(text), blocks=[blocks.section(text)], response_type="ephemeral"
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("Slack response_url reply failed: %s", type(exc).__name__)
        return False
    if answer.status_code != 200:
        log.warning("Slack response_url reply failed: HTTP %d", answer.status_code)
        return False
    return True


async def delete_job_messages(ctx: SlackContext, job: Job) -> None:
    """Remove every message and file a job posted (status, sheet, result, controls)."""
    for role, stored in job.messages.items():
        where = split_message_key(stored)
        if where is not None:
            if role.endswith("-share"):
                continue  # a file's share message goes with the file
            channel, ts = where
            await call("chat.delete", ctx.client.chat_delete(channel=channel, ts=ts))
        else:
            await call("files.delete", ctx.client.files_delete(file=stored))
