"""Discord adapter: /merge across a thread, live progress, controls that survive restarts.

``run(settings, service)`` serves until cancelled; ``add_cli(subparsers)`` adds
``mergebot discord sync`` and ``mergebot discord invite``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.errors import ConfigError
from bot.settings import Settings

from .cli import add_cli
from .client import client_for

if TYPE_CHECKING:
    from bot.service import MergeService

__all__ = ["add_cli", "run"]

logger = logging.getLogger(__name__)


async def run(settings: Settings, service: MergeService) -> None:
    """Serve Discord until cancelled, then close the connection cleanly.

    Without the Message Content intent granted in the Developer Portal, Discord
    refuses the connection (close code 4014); the bot then reconnects without it
    and tells people what to enable when they ask it to read a conversation.
    """
    if settings.discord_token is None:
        raise ConfigError("DISCORD_TOKEN is not set")
    token = settings.discord_token.reveal()
    if not settings.role.takes_events:
        await _post_only(settings, service, token)
        return
    message_content = True
    while True:
        client = client_for(settings, service, message_content=message_content)
        try:
            async with client:
                await client.start(token)
            return
        except discord.PrivilegedIntentsRequired:
            if not message_content:
                raise
            logger.warning(
                "the Message Content intent is not enabled for this app; reading threads is off until it is "
                "(Developer Portal -> Bot -> Privileged Gateway Intents)"
            )
            message_content = False
        except discord.LoginFailure:
            raise ConfigError(
                "Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal"
            ) from None


async def _post_only(settings: Settings, service: MergeService, token: str) -> None:
    """A worker-only replica: log in to the REST API (which registers where jobs are shown) and
    never open the gateway, so Discord sends this replica no events."""
    client = client_for(settings, service, message_content=True)
    try:
        async with client:
            await client.login(token)
            logger.info("Discord: worker-only, posting through the REST API (no gateway)")
            service.health.report("discord", True, "worker-only: REST API, no gateway")
            await asyncio.Event().wait()
    except discord.LoginFailure:
        raise ConfigError("Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal") from None
