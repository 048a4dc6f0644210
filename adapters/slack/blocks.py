"""Block Kit for the core's views: text sections and the control row.

Custom ids ``mb:<action>:<job>[:<arg>]`` (``bot.controls``) are the ``action_id`` of each
button. Delete asks with Slack's own confirmation dialog, so its button carries the
confirmed id. "More A", "More B" … stay buttons while they fit (``REBALANCE_BUTTONS_MAX``);
beyond that they collapse into one static select whose option values are the custom ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.controls import DELETE_CONFIRMED, PREFIX, encode
from bot.model import Action, ActionKind, Control, View

from .escape import escape

SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
OPTIONS_MAX = 100
ACTIONS_ELEMENTS_MAX = 25
REBALANCE_BUTTONS_MAX = 5
SELECT_PREFIX = f"{PREFIX}:{ActionKind.REBALANCE.value}:"

Block = dict[str, Any]
DELETE_DIALOG: Block = {
    "title": {"type": "plain_text", "text": "Delete this merge?"},
    "text": {"type": "plain_text", "text": "Its result, reference sheet and messages go away. This cannot be undone."},
    "confirm": {"type": "plain_text", "text": "Delete"},
    "deny": {"type": "plain_text", "text": "Keep it"},
    "style": "danger",
}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = BUTTON_TEXT_MAX) -> dict[str, Any]:
    """A ``plain_text`` object (labels, titles, button texts) within ``limit`` characters."""
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def section(text: str, *, markup: bool = False) -> Block:
    """A mrkdwn section clipped to Slack's 3000 characters; the text is escaped unless it is
    ``markup`` the adapter wrote itself (a ``<@user>`` mention)."""
    shown = text if markup else escape(text)
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(shown, SECTION_TEXT_MAX)}}


def context(text: str) -> Block:
    """A small grey line of plain text under a message (hints)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(escape(text), SECTION_TEXT_MAX)}]}


def button_text(control: Control) -> str:
    """What a control says: its emoji and label."""
    return f"{control.emoji} {control.label}" if control.emoji else control.label


def button(control: Control) -> Block:
    """A button whose ``action_id`` is the control's custom id; Delete first asks for confirmation."""
    arg = DELETE_CONFIRMED if control.kind is ActionKind.DELETE else control.arg
    custom_id = encode(Action(control.kind, control.job_id, arg))
    element: Block = {
        "type": "button",
        "text": plain(button_text(control)),
        "action_id": custom_id,
        "value": custom_id,
    }
    if control.style in ("primary", "danger"):
        element["style"] = control.style
    if control.kind is ActionKind.DELETE:
        element["confirm"] = DELETE_DIALOG
    return element


def rebalance_select(controls: Sequence[Control]) -> Block:
    """One select for many "More X" controls; each option's value is that control's custom id."""
    job_id = controls[0].job_id
    return {
        "type": "static_select",
        "action_id": f"{SELECT_PREFIX}{job_id}",
        "placeholder": plain("More of…"),
        "options": [
            {
                "text": plain(button_text(c), OPTION_TEXT_MAX),
                "value": encode(Action(c.kind, c.job_id, c.arg)),
            }
            for c in controls[:OPTIONS_MAX]
        ],
    }


def control_blocks(controls: Sequence[Control]) -> list[Block]:
    """Actions blocks for a job's controls: one row, with More X as buttons or one select; a grid
    of variations has a row of Pick 1…N and one of Vary 1…N above it."""
    if not controls:
        return []
    numbered = [
        {"type": "actions", "block_id": f"mb-{kind.value}", "elements": [button(c) for c in row]}
        for kind in (ActionKind.PICK, ActionKind.VARY)
        if (row := [c for c in controls if c.kind is kind])
    ]
    more = [c for c in controls if c.kind is ActionKind.REBALANCE]
    others = [c for c in controls if c.kind not in (ActionKind.REBALANCE, ActionKind.PICK, ActionKind.VARY)]
    elements: list[Block] = []
    placed_more = False
    for control in others:
        elements.append(button(control))
        if control.kind is ActionKind.RETRY and more and not placed_more:
            elements.extend(_more_elements(more))
            placed_more = True
    if more and not placed_more:
        elements.extend(_more_elements(more))
    rows = [elements[i : i + ACTIONS_ELEMENTS_MAX] for i in range(0, len(elements), ACTIONS_ELEMENTS_MAX)]
    return numbered + [
        {"type": "actions", "block_id": f"mb-controls-{n}", "elements": row} for n, row in enumerate(rows)
    ]


def _more_elements(more: Sequence[Control]) -> list[Block]:
    if len(more) <= REBALANCE_BUTTONS_MAX:
        return [button(c) for c in more]
    return [rebalance_select(more)]


def view_blocks(view: View, extra_text: str = "") -> list[Block]:
    """A view as blocks: its text (when there is any), then its controls."""
    text = view.text + extra_text
    return [*([section(text)] if text.strip() else []), *control_blocks(view.controls)]


def fallback_text(text: str, *, markup: bool = False) -> str:
    """The notification text Slack shows where blocks are not rendered (never empty), escaped
    like a section unless it is ``markup`` the adapter wrote itself."""
    if not text.strip():
        return "mergebot"
    return clip(text if markup else escape(text), SECTION_TEXT_MAX)


def image_block(file_id: str, alt: str) -> Block:
    """An image block showing a file the bot uploaded (``slack_file``)."""
    return {"type": "image", "slack_file": {"id": file_id}, "alt_text": clip(alt, 2000)}
