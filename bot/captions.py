"""What a chat message's text says about its images: a pinned label, and the caption shown.

People already write "B: the cliffs" or "(C) logo" when they post references; such a
prefix pins that letter to the message's images. ``parse_caption`` is the one parser of
caption prefixes (further prefixes, such as a role word, belong here too), and
``display_caption`` is the one caption format: the message text (or the file name when
the message has none), and "1 of 3" when one message carries several images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class CaptionPrefix:
    """A message text split into what its prefix says and the rest."""

    label: str | None  # the letter pinned by the prefix, if any
    text: str  # the text after the prefix, stripped


def parse_caption(text: str) -> CaptionPrefix:
    """Split a pinned label off ``text`` ("B: the cliffs" -> B, "the cliffs")."""
    match = _PINNED.match(text)
    if match is None:
        return CaptionPrefix(None, text.strip())
    label = next(value for value in match.groupdict().values() if value)
    return CaptionPrefix(label, text[match.end() :].strip())


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
