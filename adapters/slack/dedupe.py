"""One event, one job: Slack redelivers an event it thinks was missed (``X-Slack-Retry-Num``,
Socket Mode ``retry_attempt``); the core remembers event ids it has seen. Interaction payloads
(button presses, form submissions) have no event id, and a signed one replayed within Slack's
five-minute signature window would otherwise run (and pay) twice: they are remembered by their
``trigger_id``, which Slack makes afresh for every press and submission."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .context import SlackContext

log = logging.getLogger(__name__)


async def first_delivery(ctx: SlackContext, body: dict[str, Any]) -> bool:
    """False when this Events API delivery was handled before."""
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return True
    first = await ctx.service.first_delivery(f"slack:{body.get('team_id', '')}:{event_id}")
    if not first:
        log.info("ignoring a repeated delivery of event %s", event_id)
    return first


async def first_interaction(ctx: SlackContext, body: dict[str, Any]) -> bool:
    """False when this press, form submission or slash command was handled before (a replay)."""
    trigger = body.get("trigger_id")
    if not isinstance(trigger, str) or not trigger:
        return True
    team = str((body.get("team") or {}).get("id") or body.get("team_id") or "")
    digest = hashlib.sha256(trigger.encode()).hexdigest()[:32]  # a trigger id is short-lived, but not ours to store
    first = await ctx.service.first_delivery(f"slack:{team}:interaction:{digest}")
    if not first:
        log.warning("ignoring a replayed %s payload", body.get("type") or "interaction")
    return first
