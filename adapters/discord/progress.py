"""One status message per merge, edited in place from queued to the final result.

While the interaction token lives (15 minutes) the message is the interaction's
original response, edited through the webhook. Past that window, or when the
token is refused, the merge carries on in an ordinary channel message. Posts are
retried on Discord server errors. A progress update that still fails is logged
and skipped; a final outcome that still fails is posted as a fresh channel
message, and if even that fails the person is told.

Progress goes through a ``bot.progress.StatusFeed``: the merge hands each state over and
never waits for Discord (discord.py waits out route buckets and 429s inside the feed's one
call in flight), newer states replace older ones, and a message changes about once a second.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import discord

from bot.model import Outcome, Progress, View
from bot.progress import Pace, StatusFeed

from .context import INTERACTION_TOKEN_WINDOW_S, AdapterContext, upload_limit
from .escape import NO_PINGS, ping
from .render import MAX_CONTENT, Rendered, fitted_image, render_outcome, shown

logger = logging.getLogger(__name__)

# Attempts beyond the first for server errors discord.py gives up on at once (503 and other 5xx;
# it retries 500, 502, 504 and 524 itself and waits out 429s).
RETRIES = 2
LEFT_BEHIND_ROLE = "earlier-status"
STATUS_ROLE = "status"
WEBHOOK_UNUSABLE = frozenset({50027, 10015, 10008})  # Invalid Webhook Token, Unknown Webhook, Unknown Message
Messageable = discord.abc.Messageable
# Discord's message and interaction-webhook routes allow about 5 edits per 5 s; one a second per
# message leaves room for the other merges, and queue positions change at most every 30 s.
PACE = Pace(min_interval_s=1.0, queue_interval_s=30.0)


async def attempt(what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``call`` and retry it on Discord server errors; re-raise what remains."""
    for tries_left in range(RETRIES, -1, -1):
        try:
            return await call()
        except discord.DiscordServerError as exc:
            if tries_left == 0:
                raise
            logger.warning("%s failed with %s, retrying", what, exc.status)
    raise AssertionError("unreachable")


async def acknowledge(interaction: discord.Interaction[Any], *, ephemeral: bool = False) -> int | None:
    """Defer with a loading message (Discord allows 3 seconds); returns that message's id when Discord says it."""
    deferred = await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    return deferred.message_id if deferred is not None else None


def _webhook_unusable(exc: discord.HTTPException) -> bool:
    """The interaction's message can no longer be edited (token expired, message deleted)."""
    return exc.code in WEBHOOK_UNUSABLE or exc.status == 401


class StatusMessage:
    """The one message that shows a merge's progress and then its result.

    ``interaction`` must already be deferred with ``acknowledge`` (its loading
    message, ``loading_id``, becomes the status message); without one, the first
    update posts a channel message, replying to ``reply_to`` when given.
    ``ephemeral`` says the interaction was deferred privately, so its loading
    message is already private.
    """

    def __init__(
        self,
        context: AdapterContext,
        channel: Messageable,
        *,
        interaction: discord.Interaction[Any] | None = None,
        reply_to: discord.Message | discord.PartialMessage | None = None,
        mention: str | None = None,
        ephemeral: bool = False,
        loading_id: int | None = None,
    ) -> None:
        self.context = context
        self.channel = channel
        self.interaction = interaction
        self.reply_to = reply_to
        self.mention = mention
        self.asked_in_interaction = interaction is not None  # a waiting requester, not a reaction
        self.ephemeral = ephemeral  # the interaction was deferred privately
        # set once posted as a channel message (a partial one when a resumed job addresses it by id)
        self.message: discord.Message | discord.PartialMessage | None = None
        self.message_id: int | None = loading_id
        self.left_behind: int | None = None  # an earlier status message a new one took over from
        self.job_id: str | None = None
        self._recorded_status: int | None = None  # the message id stored as the job's status message
        self._last_text: str | None = None
        self._max_bytes = upload_limit(interaction, channel)
        self.feed = StatusFeed(self._publish, PACE)

    # -- the progress sink

    async def sink(self, progress: Progress) -> None:
        """A ``ProgressSink``: hands the state to the feed and returns at once."""
        if self.job_id is None:
            self.job_id = progress.job_id
        self.feed.offer(progress)

    async def settle(self) -> None:
        """Stop showing progress (what waits is dropped; a call in flight may land first)."""
        await self.feed.close()

    async def _publish(self, progress: Progress) -> None:
        """Show one state: the stage, and the sheet or a partial preview as the image."""
        text = progress.text
        if progress.image is None and text == self._last_text:
            return
        self._last_text = text
        rendered = Rendered(content=shown(text), keep_image=True)
        if progress.image is not None:
            default = "sheet.png" if progress.partial_index is None else f"preview-{progress.partial_index}.png"
            image, name = await fitted_image(
                self.context.service, progress.image, progress.image_name or default, self._max_bytes
            )
            rendered = Rendered(content=rendered.content, image=image, image_name=name)
        try:
            await self.show(rendered)
        except discord.HTTPException as exc:
            logger.warning("status update for job %s failed: %s", progress.job_id, exc.status)
            return
        await self._record_status()

    async def _record_status(self) -> None:
        """Store which message shows the job, so a resumed run (another process) edits the same one."""
        if self.job_id is None or self.message_id is None or self.message_id == self._recorded_status:
            return
        self._recorded_status = self.message_id
        try:
            await self.context.service.record_message(self.job_id, STATUS_ROLE, str(self.message_id))
        except Exception:
            logger.warning("could not record the status message of job %s", self.job_id, exc_info=True)

    # -- the end

    async def finish(self, outcome: Outcome) -> None:
        """Show the outcome: the result with its controls, a failure in place, or a private refusal."""
        try:
            await self._finish(outcome)
        finally:
            if outcome.job is not None:  # posted (or given up): a restart must not post it again
                self.context.service.outcome_shown(outcome.job.id)

    async def _finish(self, outcome: Outcome) -> None:
        await self.settle()
        if outcome.elsewhere:  # another replica shows the job in this status message
            return
        view = outcome.view
        if view.ephemeral:
            await self.private(view)
            return
        rendered = await render_outcome(self.context.service, outcome, self._max_bytes)
        try:
            await self.show(rendered)
        except discord.HTTPException as exc:
            logger.warning("could not show the outcome of job %s in place: %s", self.job_id, exc.status)
            try:
                self.interaction, self.message = None, None
                await self._show_in_channel(rendered)
            except discord.HTTPException as again:
                logger.error("could not post the outcome of job %s: %s", self.job_id, again.status)
                await self._report_failure(again)
                return
        job = outcome.job
        if job is not None and self.message_id is not None:
            role = "result" if outcome.ok else "status"
            await self.context.service.record_message(job.id, role, str(self.message_id))
            if self.left_behind is not None:
                # Recorded so that Delete also takes back the stale progress message.
                await self.context.service.record_message(job.id, LEFT_BEHIND_ROLE, str(self.left_behind))

    async def private(self, view: View) -> None:
        """Only the person who asked sees ``view``; the public loading message goes away."""
        await self.settle()
        text = shown(view.text)
        if self.interaction is not None and self._token_alive():
            interaction = self.interaction
            try:
                if not self.ephemeral:
                    with contextlib.suppress(discord.NotFound):  # a Delete of the job took it away already
                        await interaction.delete_original_response()
                    await interaction.followup.send(text, ephemeral=True)
                else:
                    await interaction.edit_original_response(content=text)
                return
            except discord.HTTPException as exc:
                logger.warning("private reply failed: %s", exc.status)
        mention = f"{self.mention} " if self.mention else ""
        try:
            # The one message that may ping: the requester of a command whose token expired, nobody else.
            pings = ping(self.mention) if self.asked_in_interaction else NO_PINGS
            notice = shown(view.text, MAX_CONTENT - len(mention))
            await attempt("notice", lambda: self.channel.send(mention + notice, allowed_mentions=pings))
        except discord.HTTPException as exc:
            logger.error("could not tell %s why: %s", self.mention or "the user", exc.status)

    # -- posting

    async def show(self, rendered: Rendered) -> None:
        """Edit the status message to ``rendered``; create it on first use."""
        if self.interaction is not None and self.message is None and self._token_alive():
            try:
                interaction = self.interaction
                sent = await attempt(
                    "status edit",
                    lambda: interaction.edit_original_response(**rendered.edit_arguments()),
                )
                self.message_id = sent.id
                return
            except discord.HTTPException as exc:
                if not _webhook_unusable(exc):
                    raise
                logger.info("interaction message no longer editable (%s), continuing in the channel", exc.code)
                self.interaction = None
        await self._show_in_channel(rendered)

    async def _show_in_channel(self, rendered: Rendered) -> None:
        if self.message is not None:
            message = self.message
            try:
                self.message = await attempt(
                    "status edit",
                    lambda: message.edit(**rendered.edit_arguments()),
                )
                return
            except discord.NotFound:
                logger.info("status message was deleted, posting a new one")
                self.message_id = None
        extras: dict[str, Any] = {}
        if self.reply_to is not None:
            extras.update(reference=self.reply_to, mention_author=False)
        posted = await attempt("status post", lambda: self.channel.send(**rendered.send_arguments(), **extras))
        if self.message_id is not None:
            self.left_behind = self.message_id
        self.message, self.message_id = posted, posted.id
        self.reply_to = None

    async def _report_failure(self, exc: discord.HTTPException) -> None:
        text = f"Discord refused my answer ({exc.status}). Run /merge again in a moment."
        try:
            await self.channel.send(text)
        except discord.HTTPException:
            logger.error("the channel refused the failure notice too")

    def _token_alive(self) -> bool:
        if self.interaction is None:
            return False
        age = discord.utils.utcnow() - self.interaction.created_at
        return age < timedelta(seconds=INTERACTION_TOKEN_WINDOW_S)
