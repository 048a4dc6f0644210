"""What a chat message's text says about its images: a pinned label, a role, and the caption shown.

People already write "B: the cliffs" or "(C) logo" when they post references; such a
prefix pins that letter to the message's images. A role word at the start (after any pin)
gives them that role: ``style: watercolour``, ``#subject``, ``B: scene: the kitchen``;
``stylesheet`` or a role word later in the text do not. ``parse_caption`` is the one parser of
caption prefixes, and
``display_caption`` is the one caption format: the message text (or the file name when
the message has none), and "1 of 3" when one message carries several images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Role

# "A: text", "B - text", "B– text", "(C) text", "[D] text", or the bare letter as the whole text.
# A dash needs a space on one side so "B-52 bomber" pins nothing; "A cat" pins nothing either.
_PINNED = re.compile(
    r"""^\s*(?:
        \((?P<paren>[A-Z])\)
      | \[(?P<bracket>[A-Z])\]
      | (?P<colon>[A-Z])\s*:
      | (?P<dash>[A-Z])(?:\s+[-–—]|[-–—](?=\s))
      | (?P<bare>[A-Z])\s*$
    )\s*""",
    re.VERBOSE,
)


CAPTION_ROLES = (Role.SUBJECT, Role.STYLE, Role.SCENE, Role.OBJECT)
_ROLE_WORDS = "|".join(role.value for role in CAPTION_ROLES)
_ROLE_PREFIX = re.compile(rf"^\s*(?:#(?P<tag>{_ROLE_WORDS})\b|(?P<word>{_ROLE_WORDS})\s*:)[\s:,.-]*", re.IGNORECASE)


@dataclass(frozen=True)
class CaptionPrefix:
    """A message text split into what its prefix says and the rest."""

    label: str | None  # the letter pinned by the prefix, if any
    text: str  # the text after the prefix, stripped
    role: Role | None = None  # the role its role word gives, if any


def caption_role(text: str) -> tuple[Role | None, str]:
    """The role ``text``'s first word gives its images (or None), and ``text`` without that word."""
    match = _ROLE_PREFIX.match(text)
    if match is None:
        return None, text
    return Role((match["tag"] or match["word"]).lower()), text[match.end() :]


def parse_caption(text: str) -> CaptionPrefix:
    """Split a pinned label and a role word off ``text`` ("B: style: the cliffs" -> B, style, "the cliffs")."""
    match = _PINNED.match(text)
    label = None if match is None else next(value for value in match.groupdict().values() if value)
    role, rest = caption_role(text if match is None else text[match.end() :])
    return CaptionPrefix(label, rest.strip(), role)


def display_caption(text: str, name: str, index: int = 1, count: int = 1) -> str:
    """The caption of one image: the message text, else the file name; "(2 of 3)" when the
    message carries several images."""
    caption = text.strip() or name.strip()
    if count > 1:
        part = f"{index} of {count}"
        caption = f"{caption} ({part})" if caption else part
    return caption


def sheet_caption(author: str, caption: str) -> str:
    """What the sheet prints under a panel: "Ana: the cliffs", or the caption alone."""
    if author and caption:
        return f"{author}: {caption}"
    return author or caption
