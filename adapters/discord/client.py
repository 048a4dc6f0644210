"""The discord.Client: intents, where it connects, persistent controls, and event wiring.

discord.py has no per-client setting for the REST base or the gateway URL; both
are class attributes (``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``), which ``point_at`` sets
from the settings before a client logs in. They are process-wide, like the
token-less API version discord.py itself keeps there.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.settings import Settings

from .actions import handle_action
from .commands import build_tree
from .context import AdapterContext
from .controls import ControlButton, RebalanceSelect
from .escape import NO_PINGS
from .forms import answer_form
from .reactions import on_reaction
from .resume import resumer

if TYPE_CHECKING:
    from bot.service import MergeService

logger = logging.getLogger(__name__)


def point_at(settings: Settings) -> None:
    """Send REST calls to ``DISCORD_API_BASE_URL`` and connect to ``DISCORD_GATEWAY_URL``."""
    Route.BASE = settings.discord_api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def bot_intents(*, message_content: bool) -> discord.Intents:
    """Only what the bot uses: guilds (channels, threads, roles), reactions, and message content if granted.

    Reading history is a REST call and needs no message events; the Message Content
    intent is what makes Discord include text, attachments and embeds in it.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    intents.message_content = message_content
    return intents


class MergeClient(discord.Client):
    """A Discord client that serves /merge, the message menu, controls and reactions."""

    def __init__(
        self,
        settings: Settings,
        service: MergeService,
        *,
        message_content: bool = True,
        **shards: Any,
    ) -> None:
        point_at(settings)
        # Nothing the bot posts pings anyone unless a call allows one user on purpose (escape.ping).
        super().__init__(intents=bot_intents(message_content=message_content), allowed_mentions=NO_PINGS, **shards)
        self.context = AdapterContext(
            settings=settings,
            service=service,
            on_action=handle_action,
            message_content=message_content,
        )
        self.tree = build_tree(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ControlButton, RebalanceSelect)
        self.context.service.deliver_for("discord", functools.partial(resumer, self, self.context))

    async def on_ready(self) -> None:
        user = self.user
        logger.info("connected to Discord as %s in %d servers", user.name if user else "?", len(self.guilds))
        self.context.service.health.report("discord", True, f"gateway connected, {len(self.guilds)} servers")

    async def on_resumed(self) -> None:
        self.context.service.health.report("discord", True, "gateway connected (resumed)")

    async def on_disconnect(self) -> None:
        self.context.service.health.report("discord", False, "gateway disconnected; reconnecting")

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await answer_form(interaction)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await on_reaction(self, self.context, payload)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        logger.exception("unhandled error in %s", event_method)


class ShardedMergeClient(MergeClient, discord.AutoShardedClient):
    """``MergeClient`` on some of the gateway's shards, so several replicas split one bot's servers."""


def client_for(settings: Settings, service: MergeService, *, message_content: bool) -> MergeClient:
    """One client on every shard, or on ``DISCORD_SHARD_IDS`` of ``DISCORD_SHARD_COUNT`` when set."""
    if settings.discord_shard_count is None:
        return MergeClient(settings, service, message_content=message_content)
    return ShardedMergeClient(
        settings,
        service,
        message_content=message_content,
        shard_count=settings.discord_shard_count,
        shard_ids=list(settings.discord_shard_ids or range(settings.discord_shard_count)),
    )
