"""What user text may do in a Discord message: nothing but read as text.

``escape`` is applied to every string the bot echoes into message content (prompts, captions,
file names, the core's texts that quote them). It neutralises masked links (``[label](url)``),
autolinks (``https://``), user/role/channel/command mentions (``<@id>``, ``<@&id>``, ``<#id>``,
``</cmd:id>``) and ``@everyone``/``@here``. ``allowed_mentions`` on the client (``NO_PINGS``) is
the second line: even unescaped text could not ping anyone. ``ping(user_id)`` allows exactly
one user, for the few messages that are meant to notify their requester.
"""

from __future__ import annotations

import re

import discord

ZERO_WIDTH_SPACE = "\u200b"
_BRACKETS = re.compile(r"([\[\]])")
_ANGLE_MENTION = re.compile(r"<(?=[@#/])")
_EVERYONE = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_SCHEME = re.compile(r"(?<=[A-Za-z0-9+.-]):(?=//)")
_MENTION_ID = re.compile(r"<@!?(\d+)>")
_MASKED_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*<?[^()\s>]*>?\s*\)")
_MARKUP = re.compile(r"<(?:@[!&]?\d+|#\d+|/[^:>]+:\d+)>|@(?:everyone|here)\b", re.IGNORECASE)

NO_PINGS = discord.AllowedMentions.none()


def escape(text: str) -> str:
    """``text`` as plain words: no link, mention or ping survives; it reads the same."""
    text = text.replace("\\", "\\\\")
    text = _BRACKETS.sub(r"\\\1", text)
    text = _ANGLE_MENTION.sub(r"\\<", text)
    text = _SCHEME.sub(r"\\:", text)
    return _EVERYONE.sub("@" + ZERO_WIDTH_SPACE, text)


def strip_markup(text: str) -> str:
    """A message's text for a caption: masked links keep only their words; mentions and
    ``@everyone``/``@here`` are dropped (the caption reaches the sheet and the model's prompt)."""
    text = _MASKED_LINK.sub(lambda link: link[1], text)
    return " ".join(_MARKUP.sub(" ", text).split())


def ping(mention: str | None) -> discord.AllowedMentions:
    """Allowed mentions that notify only the user of ``mention`` (``<@id>``), or nobody."""
    match = _MENTION_ID.fullmatch(mention or "")
    if match is None:
        return NO_PINGS
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(int(match[1]))], replied_user=False
    )
