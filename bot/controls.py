"""Control ids: ``mb:<action>:<job>[:<arg>]``, the only state a button carries.

Everything else is looked up in the store, so controls keep working after a
restart. Ids stay well under Discord's 100-character custom_id limit.
"""

from __future__ import annotations

import re

from .model import Action, ActionKind

PREFIX = "mb"
# The argument of a Delete that was confirmed (a Delete without it only asks).
DELETE_CONFIRMED = "OK"
JOB_ID_PATTERN = r"[A-Za-z0-9]{6,32}"
# Unanchored, for platforms that match it themselves (discord.py's DynamicItem templates).
CUSTOM_ID_TEMPLATE = (
    rf"{PREFIX}:(?P<action>{'|'.join(kind.value for kind in ActionKind)}):(?P<job>{JOB_ID_PATTERN})"
    r"(?::(?P<arg>[A-Z]{1,2}|[1-9]))?"
)
CUSTOM_ID_PATTERN = re.compile(rf"^{CUSTOM_ID_TEMPLATE}$")


def encode(action: Action) -> str:
    """The custom id of an action."""
    tail = f":{action.arg}" if action.arg else ""
    return f"{PREFIX}:{action.kind.value}:{action.job_id}{tail}"


def decode(custom_id: str) -> Action | None:
    """The action behind a custom id, or None when it is not one of ours."""
    match = CUSTOM_ID_PATTERN.match(custom_id)
    if match is None:
        return None
    kind = ActionKind(match["action"])
    arg = match["arg"]
    numbered = kind in (ActionKind.PICK, ActionKind.VARY)
    if kind is ActionKind.REBALANCE and (arg is None or arg.isdigit()):
        return None
    if numbered != (arg is not None and arg.isdigit()):
        return None
    return Action(kind=kind, job_id=match["job"], arg=arg)
