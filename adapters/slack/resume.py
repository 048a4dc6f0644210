"""Jobs nobody in this process waits for (resumed after a restart, or enqueued by another
replica) show their progress and result in their stored status message, through the Web API."""

from __future__ import annotations

from bot.model import Job, Outcome
from bot.worker import Delivery

from .context import SlackContext
from .progress import StatusMessage
from .render import show_outcome
from .webapi import split_message_key


async def resume(ctx: SlackContext, job: Job) -> Delivery:
    """Where ``job`` shows up: its status message in its thread (a new one if it had none)."""
    origin = job.origin
    status = StatusMessage(ctx, origin.channel_id, origin.thread_id)
    status.job_id = job.id
    where = split_message_key(job.messages.get("status", ""))
    if where is not None and where[0] == origin.channel_id:
        status.ts = where[1]

    async def finish(outcome: Outcome) -> None:
        await show_outcome(ctx, outcome, status, origin.user_id)

    return Delivery(status.sink, finish)
