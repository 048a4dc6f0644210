"""The status message of a merge: posted once in the thread, then edited in place.

It shows the stage and a picture: the reference sheet (uploaded into the thread, so people
see what was used) until the first partial preview (a privately uploaded file) replaces it.
Previews are deleted when the merge ends; the sheet stays with the job (and goes with
Delete).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.model import Progress, Stage

from . import blocks
from .context import SlackContext
from .uploads import PREVIEW_MAX_BYTES, upload
from .webapi import call, message_key

log = logging.getLogger(__name__)

STAGE_EMOJI = {
    Stage.QUEUED: "⏳",
    Stage.FETCHING: "📥",
    Stage.COMPOSING: "🧩",
    Stage.GENERATING: "🎨",
}


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

    async def show(
        self, text: str, extra: list[blocks.Block] | None = None, controls: list[blocks.Block] | None = None
    ) -> bool:
        """Post or edit the status message; False when Slack refused both."""
        body = [blocks.section(text), *(extra or []), *(controls or [])]
        if self.ts is not None:
            edited = await call(
                "chat.update",
                self.ctx.client.chat_update(
                    channel=self.channel, ts=self.ts, text=blocks.fallback_text(text), blocks=body
                ),
            )
            if edited is not None:
                return True
            if extra:  # e.g. a preview Slack has not finished processing: keep the text at least
                return await self.show(text, controls=controls)
            return False
        kwargs: dict[str, Any] = {"channel": self.channel, "text": blocks.fallback_text(text), "blocks": body}
        if self.thread_ts is not None:
            kwargs["thread_ts"] = self.thread_ts
        posted = await call("chat.postMessage", self.ctx.client.chat_postMessage(**kwargs))
        if posted is None:
            return False
        self.ts = str(posted["ts"])
        await self.record("status", message_key(self.channel, self.ts))
        return True

    async def sink(self, progress: Progress) -> None:
        """The core's progress sink."""
        if self.job_id is None:
            self.job_id = progress.job_id
            await self.flush()
        if progress.stage in (Stage.DONE, Stage.FAILED):
            return  # the outcome follows at once and replaces the status (``finish``): one edit, not two
        label = f"{STAGE_EMOJI.get(progress.stage, '')} {progress.text}".strip()
        new_preview = False
        if progress.image is not None and progress.stage is Stage.COMPOSING:
            sheet_id = await self._share_sheet(progress)
            if sheet_id is not None:
                self._picture = blocks.image_block(sheet_id, "The reference sheet")
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
        await self.show(label, [self._picture] if self._picture is not None else None)
        if new_preview and len(self._previews) > 1:
            await self._delete_previews(keep_last=True)

    async def finish(self, text: str, controls: list[blocks.Block] | None = None) -> None:
        """The final state: text (and controls on a failure), no picture."""
        self._picture = None
        await self.show(text, controls=controls)
        await self._delete_previews(keep_last=False)

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

    async def _share_sheet(self, progress: Progress) -> str | None:
        """Upload the reference sheet into the thread; its file id, or None when Slack refused."""
        assert progress.image is not None
        sheet = await upload(
            self.ctx,
            progress.image,
            progress.image_name or f"sheet-{progress.job_id}.png",
            "Reference sheet",
            channel=self.channel,
            thread_ts=self.thread_ts,
        )
        if sheet is None:
            return None
        await self.record("sheet-file", sheet.file_id)
        if sheet.share_key is not None:
            await self.record("sheet-share", sheet.share_key)
        return sheet.file_id

    async def _delete_previews(self, *, keep_last: bool) -> None:
        doomed = self._previews[:-1] if keep_last else self._previews
        for file_id in doomed:
            await call("files.delete", self.ctx.client.files_delete(file=file_id))
        self._previews = self._previews[-1:] if keep_last else []
