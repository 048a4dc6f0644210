"""One event, one job, across replicas: the gateway can deliver an event twice (a resumed session
replays what it missed; a shard moved to another replica during a reconnect is seen by both), and
an interaction started twice would be admitted, charged and run twice. The core remembers, in the
shared store, the interaction ids (Discord makes one for every command, press and form) and the
reactions it handled."""

from __future__ import annotations

import logging
from typing import Any

import discord

from .context import AdapterContext

log = logging.getLogger(__name__)

# A reaction has no id of its own: the same person adding the same emoji to the same message again
# this soon is a replay, not a second press (removing and re-adding it later runs it again).
REACTION_REPEAT_S = 60.0


async def first_interaction(context: AdapterContext, interaction: discord.Interaction[Any]) -> bool:
    """False when this command, press or form submission was handled before (here or on another replica)."""
    first = await context.service.first_delivery(f"discord:interaction:{interaction.id}")
    if not first:
        log.info("ignoring a repeated delivery of interaction %s", interaction.id)
    return first


async def first_reaction(context: AdapterContext, payload: discord.RawReactionActionEvent) -> bool:
    """False when this reaction was handled moments ago (a replayed gateway event)."""
    key = f"discord:reaction:{payload.message_id}:{payload.user_id}:{payload.emoji.name}"
    first = await context.service.first_delivery(key, ttl_s=REACTION_REPEAT_S)
    if not first:
        log.info("ignoring a repeated reaction on message %s", payload.message_id)
    return first
