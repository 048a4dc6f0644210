"""Emoji reactions on a result: 🔁 retry, 🇦 🇧 🇨 … more of that reference, 🗑️ delete (requester only)."""

from __future__ import annotations

import logging

import discord

from bot.controls import DELETE_CONFIRMED
from bot.errors import PermissionDenied
from bot.model import Action, ActionKind, Actor
from bot.views import label_for_emoji

from .actions import delete_job_messages, run_outcome_in_channel
from .context import AdapterContext
from .dedupe import first_reaction
from .escape import NO_PINGS
from .progress import attempt
from .render import MAX_CONTENT, shown

logger = logging.getLogger(__name__)

RETRY_EMOJI = frozenset({"🔁"})
DELETE_EMOJI = frozenset({"🗑️", "🗑"})
# The core's refusal mentions moderators, who may delete with the button but not with this reaction.
DELETE_REFUSED = "Only the person who asked for this merge can delete it with 🗑️; moderators can use its Delete button."


def is_control_emoji(emoji: str) -> bool:
    """Whether ``emoji`` asks the bot for something (🔁, 🗑️ or a letter)."""
    return emoji in RETRY_EMOJI or emoji in DELETE_EMOJI or label_for_emoji(emoji) is not None


def reaction_action(emoji: str, job_id: str) -> Action | None:
    """The action an emoji asks for on ``job_id``, or None when it means nothing to the bot."""
    if emoji in RETRY_EMOJI:
        return Action(kind=ActionKind.RETRY, job_id=job_id)
    if emoji in DELETE_EMOJI:  # a deliberate reaction needs no second question
        return Action(kind=ActionKind.DELETE, job_id=job_id, arg=DELETE_CONFIRMED)
    label = label_for_emoji(emoji)
    if label is not None:
        return Action(kind=ActionKind.REBALANCE, job_id=job_id, arg=label)
    return None


async def on_reaction(client: discord.Client, context: AdapterContext, payload: discord.RawReactionActionEvent) -> None:
    """Handle one added reaction; ignores the bot's own and messages that are not results. Never raises."""
    if client.user is not None and payload.user_id == client.user.id:
        return
    if payload.emoji.id is not None or not is_control_emoji(payload.emoji.name):
        return  # custom emoji and unrelated ones: no store lookup
    try:
        if await first_reaction(context, payload):
            await _handle(client, context, payload)
    except Exception:
        logger.exception("reaction %s on message %s failed", payload.emoji.name, payload.message_id)


async def _handle(client: discord.Client, context: AdapterContext, payload: discord.RawReactionActionEvent) -> None:
    service = context.service
    job = await service.job_for_message("discord", str(payload.message_id))
    if job is None:
        return
    action = reaction_action(payload.emoji.name, job.id)
    if action is None:
        return
    channel = client.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
    # Reaction deletes are for the requester only; moderators use the Delete button.
    name = payload.member.display_name if payload.member is not None else ""
    actor = Actor(
        platform="discord", workspace_id=str(payload.guild_id or "dm"), user_id=str(payload.user_id), user_name=name
    )
    reply_to = channel.get_partial_message(payload.message_id)
    mention = f"<@{payload.user_id}>"
    logger.info("reaction %s on job %s", action.kind.value, job.id)
    if action.kind is ActionKind.DELETE:
        outcome = await service.act(action, actor)
        if not outcome.deleted:
            await _remove_reaction(reply_to, payload)
            why = DELETE_REFUSED if isinstance(outcome.error, PermissionDenied) else outcome.view.text
            if context.notices.allow(actor.user_id, job.id):  # names the person without pinging them
                text = f"{mention} {shown(why, MAX_CONTENT - len(mention) - 1)}"
                await attempt("refusal", lambda: channel.send(text, allowed_mentions=NO_PINGS))
            return
        await delete_job_messages(client, outcome.job)
        return
    await run_outcome_in_channel(
        context, channel, action, actor, reply_to=reply_to, mention=mention, client=client
    )


async def _remove_reaction(message: discord.PartialMessage, payload: discord.RawReactionActionEvent) -> None:
    try:
        await message.remove_reaction(payload.emoji, discord.Object(id=payload.user_id))
    except discord.HTTPException:
        logger.info("could not remove a refused reaction (needs Manage Messages)")
