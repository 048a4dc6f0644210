"""Reactions on a job's messages: 🔁 retry, :a: :b: (and ``SLACK_REBALANCE_REACTIONS``)
rebalance, :wastebasket: delete. The message is looked up in the store, so reactions keep
working after a restart."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.model import Action, ActionKind

from .context import SlackContext
from .controls import run_action
from .dedupe import first_delivery
from .emoji import DEFAULT_REBALANCE, reaction_meaning
from .webapi import message_key

log = logging.getLogger(__name__)

def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Listen for reaction_added on the bot's messages."""
    rebalance = {**DEFAULT_REBALANCE, **ctx.settings.slack_rebalance_reactions}

    @app.event("reaction_added")
    async def on_reaction(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        event = body["event"]
        item = event.get("item") or {}
        meaning = reaction_meaning(str(event.get("reaction")), rebalance)
        if item.get("type") != "message" or meaning is None:
            return
        ctx.background.spawn(_react(ctx, body, meaning), f"reaction {meaning[0].value}")


async def _react(ctx: SlackContext, body: dict[str, Any], meaning: tuple[ActionKind, str | None]) -> None:
    """Apply a reaction to the job whose message it was added to (bot messages of other jobs are ignored)."""
    if not await first_delivery(ctx, body):
        return
    event = body["event"]
    channel, ts = str(event["item"]["channel"]), str(event["item"]["ts"])
    job = await ctx.service.job_for_message("slack", message_key(channel, ts))
    if job is None:
        return
    actor = await ctx.people.actor(str(body.get("team_id") or ""), str(event["user"]))
    await run_action(ctx, Action(meaning[0], job.id, meaning[1]), actor, channel, job.origin.thread_id)
