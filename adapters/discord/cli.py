"""``mergebot discord sync [--guild ID]`` and ``mergebot discord invite``.

Commands are registered on purpose, not on every start: Discord caps command
creation per day. A guild sync shows up at once and suits testing; a global
sync reaches every server the bot is in.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import discord

from bot.errors import ConfigError
from bot.settings import Settings

from .client import point_at

logger = logging.getLogger(__name__)

SCOPES = ("bot", "applications.commands")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def bot_permissions() -> discord.Permissions:
    """What the bot needs in a channel: read history, post results with files, edit its status, react."""
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        manage_messages=True,  # to take back a refused reaction; everything else works without it
    )


def invite_url(application_id: str) -> str:
    """The OAuth2 URL that adds the bot with exactly the scopes and permissions it uses."""
    return discord.utils.oauth_url(application_id, permissions=bot_permissions(), scopes=SCOPES)


def application_id_from_token(token: str) -> str | None:
    """A bot token's first part is its user id (the application id), base64-encoded."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if decoded.isdigit() else None


async def sync_commands(settings: Settings, guild_id: int | None) -> list[str]:
    """Register /merge and the message menu, in one guild or globally; returns the synced names."""
    from .commands import build_tree

    if settings.discord_token is None:
        raise ConfigError("DISCORD_TOKEN is not set")
    point_at(settings)
    client = discord.Client(intents=discord.Intents.none())
    tree = build_tree(client)
    async with client:
        await client.login(settings.discord_token.reveal())
        if guild_id is None:
            synced = await tree.sync()
        else:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
    return [command.name for command in synced]


def _settings(env: Mapping[str, str] | None) -> Settings:
    return Settings.from_env(env, dotenv=None if env is not None else Path(".env"))


def sync_main(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """The ``discord sync`` handler; prints one line and returns the exit status.

    ``env`` replaces the environment and ``.env`` (for tests).
    """
    try:
        names = asyncio.run(sync_commands(_settings(env), args.guild))
    except ConfigError as exc:
        print(f"discord sync: {exc.user_message}", file=sys.stderr)
        return EXIT_USAGE
    except discord.LoginFailure:
        print("discord sync: Discord refused DISCORD_TOKEN", file=sys.stderr)
        return EXIT_USAGE
    except (discord.HTTPException, OSError) as exc:
        print(f"discord sync: Discord did not accept the commands ({exc})", file=sys.stderr)
        return EXIT_FAILED
    where = f"guild {args.guild}" if args.guild else "all servers (may take up to an hour to appear)"
    print(f"synced {', '.join(names)} to {where}")
    return EXIT_OK


def invite_main(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """The ``discord invite`` handler: prints the invite URL."""
    try:
        settings = _settings(env)
    except ConfigError as exc:
        print(f"discord invite: {exc.user_message}", file=sys.stderr)
        return EXIT_USAGE
    application_id = settings.discord_application_id
    if application_id is None and settings.discord_token is not None:
        application_id = application_id_from_token(settings.discord_token.reveal())
    if application_id is None:
        print("discord invite: set DISCORD_APPLICATION_ID (or DISCORD_TOKEN)", file=sys.stderr)
        return EXIT_USAGE
    print(invite_url(application_id))
    return EXIT_OK


def _guild_id(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a guild id is a number, got {value!r}")
    return int(value)


def add_cli(subparsers: Any) -> None:
    """Add ``discord sync [--guild ID]`` and ``discord invite``; each sets ``func`` to its handler."""
    discord_parser = subparsers.add_parser("discord", help="Discord set-up steps")
    steps = discord_parser.add_subparsers(dest="discord_command", required=True)
    sync = steps.add_parser("sync", help="register /merge and the message menu with Discord")
    sync.add_argument("--guild", type=_guild_id, default=None, help="sync to one server only (instant)")
    sync.set_defaults(func=sync_main)
    invite = steps.add_parser("invite", help="print the URL that adds the bot to a server")
    invite.set_defaults(func=invite_main)
