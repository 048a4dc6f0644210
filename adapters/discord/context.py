"""What every Discord handler needs: settings, the core service, and what the gateway allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.model import Action
from bot.notices import NoticeThrottle
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.service import MergeService

INTERACTION_TOKEN_WINDOW_S = 14 * 60.0  # Discord's is 15 minutes; stop a minute early
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # an unboosted guild or a DM
MENU_TARGETS_KEPT = 256

# What a pressed control does: (interaction, action, new prompt text or None).
ActionHandler = Callable[["discord.Interaction[Any]", Action, "str | None"], Awaitable[None]]


@dataclass(frozen=True)
class MenuTarget:
    """A message chosen with "Merge images from here", bound to where and by whom the form was opened."""

    message: discord.Message
    guild_id: int | None
    channel_id: int | None
    user_id: int

    def opened_by(self, interaction: discord.Interaction[Any]) -> bool:
        return (
            interaction.guild_id == self.guild_id
            and interaction.channel_id == self.channel_id
            and interaction.user.id == self.user_id
        )


@dataclass(frozen=True)
class AdapterContext:
    """Shared state of one running Discord client."""

    settings: Settings
    service: MergeService
    on_action: ActionHandler
    message_content: bool = True  # False when the Message Content intent is not granted
    # Messages chosen with "Merge images from here" while their form is open. The interaction
    # carries the message in full even without the Message Content intent; a later fetch may not.
    menu_targets: dict[tuple[int, int], MenuTarget] = field(default_factory=dict)  # (message, person) ->
    notices: NoticeThrottle = field(default_factory=NoticeThrottle)  # refusals: one per person per job per minute

    def remember_target(self, interaction: discord.Interaction[Any], message: discord.Message) -> None:
        """Keep ``message`` for the form ``interaction`` opens, forgetting the oldest beyond a few hundred."""
        key = (message.id, interaction.user.id)
        self.menu_targets.pop(key, None)
        self.menu_targets[key] = MenuTarget(
            message, interaction.guild_id, interaction.channel_id, interaction.user.id
        )
        while len(self.menu_targets) > MENU_TARGETS_KEPT:
            del self.menu_targets[next(iter(self.menu_targets))]

    def target_for(self, interaction: discord.Interaction[Any], message_id: int) -> discord.Message | None:
        """The remembered message, only for a submission by the person, in the channel, that opened the form."""
        target = self.menu_targets.get((message_id, interaction.user.id))
        return target.message if target is not None and target.opened_by(interaction) else None


def context_of(client: discord.Client) -> AdapterContext:
    """The adapter context a ``MergeClient`` carries (components and modals only get the client)."""
    context = getattr(client, "context", None)
    if not isinstance(context, AdapterContext):
        raise RuntimeError("this discord.Client was not built by adapters.discord.client")
    return context


def upload_limit(interaction: discord.Interaction[Any] | None, channel: object) -> int:
    """The byte limit for files in this place: the interaction's, else the guild's, else the default."""
    if interaction is not None and getattr(interaction, "filesize_limit", None):
        return int(interaction.filesize_limit)
    guild = getattr(channel, "guild", None)
    if isinstance(guild, discord.Guild):
        return guild.filesize_limit
    return DEFAULT_UPLOAD_LIMIT
