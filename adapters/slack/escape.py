"""What user text may do in a Slack message: nothing but read as text.

Slack's markup lives in angle brackets (``<@U…>``, ``<!channel>``, ``<!here>``,
``<!subteam^S…>``, ``<#C…>``, ``<https://…|label>``) and ``&``, ``<``, ``>`` arrive as
entities. ``escape`` makes any string inert for a mrkdwn field *and* for a message's ``text``
(what notifications and screen readers show). ``strip_markup`` turns message text a person
wrote into plain words for captions and prompts: mentions and broadcasts dropped, links reduced
to their label, entities decoded.
"""

from __future__ import annotations

import re

_SEQUENCE = re.compile(r"<([^<>]*)>")


def escape(text: str) -> str:
    """Slack needs ``&``, ``<`` and ``>`` escaped; nothing else carries markup that reaches anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(sequence: re.Match[str]) -> str:
    inside = sequence[1]
    if inside[:1] in ("@", "!", "#"):  # a person, a broadcast or user group, a channel
        return " "
    _, _, label = inside.partition("|")
    return f" {label} " if label else " "  # a link keeps its words, never its address


def strip_markup(text: str) -> str:
    """A message's text as plain words, squeezed to single spaces."""
    text = _SEQUENCE.sub(_plain, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())
