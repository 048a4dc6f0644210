"""What every Discord handler needs: settings, the core service, and what the gateway allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.model import Action
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.service import MergeService

INTERACTION_TOKEN_WINDOW_S = 14 * 60.0  # Discord's is 15 minutes; stop a minute early
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # an unboosted guild or a DM
MENU_TARGETS_KEPT = 256

# What a pressed control does: (interaction, action, new prompt text or None).
ActionHandler = Callable[["discord.Interaction[Any]", Action, "str | None"], Awaitable[None]]


@dataclass(frozen=True)
class AdapterContext:
    """Shared state of one running Discord client."""

    settings: Settings
    service: MergeService
    on_action: ActionHandler
    message_content: bool = True  # False when the Message Content intent is not granted
    # Messages chosen with "Merge images from here" while their form is open. The interaction
    # carries the message in full even without the Message Content intent; a later fetch may not.
    menu_targets: dict[int, discord.Message] = field(default_factory=dict)

    def remember_target(self, message: discord.Message) -> None:
        """Keep ``message`` for its form's submission, forgetting the oldest beyond a few hundred."""
        self.menu_targets[message.id] = message
        while len(self.menu_targets) > MENU_TARGETS_KEPT:
            del self.menu_targets[next(iter(self.menu_targets))]


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
