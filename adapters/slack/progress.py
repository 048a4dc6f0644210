"""The status message of a merge: posted once in the thread, then edited in place.

It shows the stage and a picture: the reference sheet until the first partial preview
replaces it. Both are privately uploaded files (no thread entry of their own) deleted when
the merge ends; the result and its sheet are then shared in the thread as one file message
(``render.show_outcome``), so a merge adds at most two entries to the thread.

Progress goes through a ``bot.progress.StatusFeed``: the merge never waits for Slack, edits
of all merges share the workspace's ``chat.update`` budget, and a 429 on an edit pauses that
budget instead of the merge. The first post and the final state must land: they back off and
try again on 429 (``webapi.must_land``).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.model import Progress, Stage
from bot.progress import Pace, StatusFeed, Throttled

from . import blocks
from .context import SlackContext
from .uploads import PREVIEW_MAX_BYTES, upload
from .webapi import Answer, call, message_key, must_land, request

log = logging.getLogger(__name__)

STAGE_EMOJI = {
    Stage.QUEUED: "⏳",
    Stage.FETCHING: "📥",
    Stage.COMPOSING: "🧩",
    Stage.GENERATING: "🎨",
}
# One message may change about once a second (Slack's posting guidance); a queue position at
# most every 30 s, so a long queue costs a few edits per person, not one per freed slot.
PACE = Pace(min_interval_s=1.0, queue_interval_s=30.0)


class StatusMessage:
    """One message per job in the thread, created on first use and updated after that."""

    def __init__(self, ctx: SlackContext, channel: str, thread_ts: str | None) -> None:
        self.ctx = ctx
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts: str | None = None
        self.job_id: str | None = None
        self._previews: list[str] = []
        self._picture: blocks.Block | None = None  # the sheet, then the latest preview
        self._unrecorded: dict[str, str] = {}  # posted before the job id was known
        self.post_error: str | None = None  # why Slack refused the first post
        self.feed = StatusFeed(self._publish, PACE, ctx.edit_budget)

    async def show(
        self,
        text: str,
        extra: list[blocks.Block] | None = None,
        controls: list[blocks.Block] | None = None,
        *,
        final: bool = True,
    ) -> bool:
        """Post or edit the status message; False when Slack refused it.

        A ``final`` edit (and any first post) keeps trying through rate limits; a progress edit
        (``final=False``) raises ``Throttled`` instead, for the feed to show a newer state later.
        """
        body = [blocks.section(text), *(extra or []), *(controls or [])]
        if self.ts is None:
            return await self._post(text, body)
        ts = self.ts
        client = self.ctx.paced_client

        def edit() -> Any:
            return client.chat_update(channel=self.channel, ts=ts, text=blocks.fallback_text(text), blocks=body)

        if final:
            self.ctx.edit_budget.spend()
            answer = await must_land("chat.update", edit)
        else:
            answer = await request("chat.update", edit())
            if answer.rate_limited:
                raise Throttled(answer.retry_after_s or 1.0)
        # A refused progress edit (a preview Slack has not finished processing) is not tried
        # again: the next state replaces it, within the feed's cap on edits (``Pace.max_edits``).
        return answer.response is not None

    async def _post(self, text: str, body: list[blocks.Block]) -> bool:
        kwargs: dict[str, Any] = {"channel": self.channel, "text": blocks.fallback_text(text), "blocks": body}
        if self.thread_ts is not None:
            kwargs["thread_ts"] = self.thread_ts
        client = self.ctx.paced_client
        posted: Answer = await must_land(
            "chat.postMessage", lambda: client.chat_postMessage(**kwargs), self.ctx.post_budget(self.channel)
        )
        if posted.response is None:
            self.post_error = posted.error
            return False
        self.ts = str(posted.response["ts"])
        await self.record("status", message_key(self.channel, self.ts))
        return True

    async def sink(self, progress: Progress) -> None:
        """The core's progress sink: hands the state to the feed and returns at once."""
        if self.job_id is None:
            self.job_id = progress.job_id
            await self.flush()
        self.feed.offer(progress)

    async def settle(self) -> None:
        """Stop showing progress (what waits is dropped; a call in flight may land first)."""
        await self.feed.close()

    async def _publish(self, progress: Progress) -> None:
        """Show one state of the merge (called by the feed, one at a time)."""
        label = f"{STAGE_EMOJI.get(progress.stage, '')} {progress.text}".strip()
        new_preview = False
        if progress.image is not None and progress.stage is Stage.COMPOSING:
            sheet = await upload(
                self.ctx,
                progress.image,
                progress.image_name or f"sheet-{progress.job_id}.png",
                "Reference sheet",
                max_bytes=PREVIEW_MAX_BYTES,
            )
            if sheet is not None:
                self._previews.append(sheet.file_id)
                self._picture = blocks.image_block(sheet.file_id, "The reference sheet")
        elif progress.image is not None and progress.stage is Stage.GENERATING:
            preview = await upload(
                self.ctx,
                progress.image,
                progress.image_name or f"preview-{progress.job_id}.png",
                "Preview",
                max_bytes=PREVIEW_MAX_BYTES,
            )
            if preview is not None:
                self._previews.append(preview.file_id)
                self._picture = blocks.image_block(preview.file_id, "A preview of the merge in progress")
                new_preview = True
        await self.show(label, [self._picture] if self._picture is not None else None, final=False)
        if new_preview and len(self._previews) > 1:
            await self._delete_previews(keep_last=True)

    async def finish(self, text: str, controls: list[blocks.Block] | None = None) -> bool:
        """The final state: text and controls, no picture; False when Slack refused it."""
        await self.settle()
        self._picture = None
        shown = await self.show(text, controls=controls)
        await self._delete_previews(keep_last=False)
        return shown

    async def record(self, role: str, value: str) -> None:
        """Store a message (or file) of this job, so reactions find it and Delete removes it."""
        if self.job_id is None:
            self._unrecorded[role] = value
        else:
            await self.ctx.service.record_message(self.job_id, role, value)

    async def flush(self) -> None:
        """Record the messages posted before the job id was known."""
        if self.job_id is not None:
            unrecorded, self._unrecorded = self._unrecorded, {}
            for role, value in unrecorded.items():
                await self.ctx.service.record_message(self.job_id, role, value)

    async def _delete_previews(self, *, keep_last: bool) -> None:
        doomed = self._previews[:-1] if keep_last else self._previews
        for file_id in doomed:
            await call("files.delete", self.ctx.client.files_delete(file=file_id))
        self._previews = self._previews[-1:] if keep_last else []
