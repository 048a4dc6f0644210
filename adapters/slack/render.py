"""Core outcomes shown in Slack: at most two thread entries per merge.

The status message becomes the result's message (its text, who asked, the controls) and
the result with its reference sheet beside it is shared in the thread as one file message
(``files_upload_v2`` with both files). Image blocks (``slack_file``) are not used for the
result: Slack shows a file in a block only to people who can access that file, and a
file the bot uploaded without sharing it is visible to the bot alone; a shared file is
visible to everyone in the channel. Failures stay in the status message with Retry and
Edit prompt, private answers are ephemeral messages, and Delete removes what a job posted.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.model import Control, Job, Outcome

from . import blocks
from .context import SlackContext
from .progress import StatusMessage
from .uploads import Upload, Uploaded, upload_together
from .webapi import call, message_key, must_land, split_message_key

log = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT_S = 10
MERGE_CRASHED = "Something went wrong on my side and the merge did not finish. Try again in a moment."
ACTION_CRASHED = "Something went wrong on my side; nothing was changed. Try again in a moment."
UPLOAD_FAILED = "\n(I made the image but Slack refused the upload; press Retry to try again.)"
RESULT_TITLE = "Merged image"
RESULT_FILE_ROLE = "result-file"  # the job_messages role of the shared result file
SHEET_TITLE = "Reference sheet"


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
        if not outcome.elsewhere:  # else another replica shows the job in this status message
            await _show(ctx, outcome, status, user_id, note, private_refusal)
    finally:
        await status.flush()
        if outcome.job is not None:  # posted (or given up): a restart must not post it again
            ctx.service.outcome_shown(outcome.job.id)


async def _show(
    ctx: SlackContext, outcome: Outcome, status: StatusMessage, user_id: str, note: str, private_refusal: bool
) -> None:
    view = outcome.view
    if outcome.deleted and outcome.job is not None:
        await delete_job_messages(ctx, outcome.job)
        await ephemeral(ctx, status.channel, user_id, status.thread_ts, view.text)
        return
    if view.ephemeral or (private_refusal and not outcome.ok and status.ts is None):
        repeated = private_refusal and not outcome.ok and not ctx.notices.allow(user_id, _about(outcome))
        if not repeated:  # a spammed press or reaction is told once a minute
            await ephemeral(ctx, status.channel, user_id, status.thread_ts, view.text, view.controls)
        return
    if not outcome.ok or view.image is None or outcome.job is None:
        await status.finish(f"⚠️ {view.text}{note}", blocks.control_blocks(view.controls))
        return
    # A result shown again after its worker died sharing it: the files are in the thread already.
    shared = RESULT_FILE_ROLE in outcome.job.messages
    if not shared:
        shared = bool(await _share_result(ctx, outcome.job, view.image, view.image_name or "mergebot.png", status))
    text = f"✅ {view.text}{note}" + ("" if shared else UPLOAD_FAILED)
    controls = blocks.control_blocks(view.controls)
    if await status.finish(text, controls) and status.ts is not None:
        await status.record("result", message_key(status.channel, status.ts))
        return
    # Slack would not edit the status message: the result's text and controls as a new one.
    kwargs: dict[str, Any] = {
        "channel": status.channel,
        "text": blocks.fallback_text(text),
        "blocks": [blocks.section(text), *controls],
    }
    if status.thread_ts is not None:
        kwargs["thread_ts"] = status.thread_ts
    client = ctx.paced_client
    budget = ctx.post_budget(status.channel)
    posted = (await must_land("chat.postMessage", lambda: client.chat_postMessage(**kwargs), budget)).response
    if posted is not None:
        await status.record("result", message_key(status.channel, str(posted["ts"])))


async def _share_result(
    ctx: SlackContext, job: Job, image: bytes, image_name: str, status: StatusMessage
) -> list[Uploaded] | None:
    """The result and its reference sheet as one file message in the job's thread."""
    uploads = [Upload(image, image_name, RESULT_TITLE)]
    sheet = await ctx.service.sheet_image(job)
    if sheet is not None:
        uploads.append(Upload(sheet, f"sheet-{job.id}.jpg", SHEET_TITLE))
    shared = await upload_together(ctx, uploads, channel=status.channel, thread_ts=status.thread_ts)
    if shared is None:
        return None
    for role, file in zip((RESULT_FILE_ROLE, "sheet-file"), shared, strict=False):
        await status.record(role, file.file_id)
    share_key = next((f.share_key for f in shared if f.share_key is not None), None)
    if share_key is not None:
        await status.record("result-share", share_key)
    return shared


def _about(outcome: Outcome) -> str:
    return outcome.job.id if outcome.job is not None else ""


async def ephemeral(
    ctx: SlackContext,
    channel: str,
    user_id: str,
    thread_ts: str | None,
    text: str,
    controls: tuple[Control, ...] = (),
) -> None:
    """A message only ``user_id`` sees, with ``controls`` under it when given."""
    kwargs: dict[str, Any] = {
        "channel": channel,
        "user": user_id,
        "text": blocks.fallback_text(text),
        "blocks": [blocks.section(text), *blocks.control_blocks(controls)],
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
    """Remove every message and file a job posted (status and result message, its files)."""
    seen: set[str] = set()
    for role, stored in job.messages.items():
        if stored in seen:
            continue  # the status message is also the result's
        seen.add(stored)
        where = split_message_key(stored)
        if where is not None:
            if role.endswith("-share"):
                continue  # a file's share message goes with the file
            channel, ts = where
            await call("chat.delete", ctx.client.chat_delete(channel=channel, ts=ts))
        else:
            await call("files.delete", ctx.client.files_delete(file=stored))
