"""Jobs nobody in this process waits for (resumed after a restart, or enqueued by another
replica) show their progress and result in their stored status message, edited through the
channel messages API (the interaction token of the process that took the command is gone)."""

from __future__ import annotations

import discord

from bot.model import Job
from bot.worker import Delivery

from .context import AdapterContext
from .progress import STATUS_ROLE, StatusMessage


async def resumer(client: discord.Client, context: AdapterContext, job: Job) -> Delivery:
    """Where ``job`` shows up: its status message (a new message in its channel if it had none)."""
    origin = job.origin
    channel = client.get_partial_messageable(int(origin.channel_id))
    status = StatusMessage(context, channel)
    status.job_id = job.id
    stored = job.messages.get(STATUS_ROLE, "")
    if stored.isdigit():
        status.message = channel.get_partial_message(int(stored))
        status.message_id = int(stored)
    return Delivery(status.sink, status.finish)
