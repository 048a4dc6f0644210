"""The reactions mergebot answers on Slack, and how they are explained to people."""

from __future__ import annotations

from collections.abc import Mapping

from bot.controls import DELETE_CONFIRMED
from bot.model import ActionKind

RETRY_REACTIONS = frozenset({"repeat"})
DELETE_REACTIONS = frozenset({"wastebasket"})
DEFAULT_REBALANCE = {"a": "A", "b": "B"}


def reaction_meaning(reaction: str, rebalance: Mapping[str, str]) -> tuple[ActionKind, str | None] | None:
    """What a reaction asks for (kind and argument), or None for any other emoji.
    A delete reaction is deliberate enough to need no second question."""
    name = reaction.split("::", 1)[0]  # drop a skin tone such as "::skin-tone-2"
    if name in RETRY_REACTIONS:
        return ActionKind.RETRY, None
    if name in DELETE_REACTIONS:
        return ActionKind.DELETE, DELETE_CONFIRMED
    label = rebalance.get(name)
    return (ActionKind.REBALANCE, label) if label else None


def reactions_help(extra_rebalance: Mapping[str, str]) -> str:
    """One line naming every reaction that works on a result."""
    rebalance = {**DEFAULT_REBALANCE, **extra_rebalance}
    more = " ".join(f":{name}: more {label}" for name, label in sorted(rebalance.items(), key=lambda kv: kv[1]))
    return (
        f"Reactions on a result: :{min(RETRY_REACTIONS)}: retry · {more} · "
        f":{min(DELETE_REACTIONS)}: delete (the requester or an admin)."
    )
