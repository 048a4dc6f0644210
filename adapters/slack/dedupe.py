"""One event, one job: Slack redelivers an event it thinks was missed (``X-Slack-Retry-Num``,
Socket Mode ``retry_attempt``); the core remembers event ids it has seen."""

from __future__ import annotations

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
