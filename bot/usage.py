"""``/merge usage``: a person's merges and estimated spend today and this month, what is
left of their daily quota, and for moderators the same for the whole workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from .limits import day_window
from .model import Actor, View
from .settings import Limits
from .store import JobStore, Totals


def month_start(now: datetime | None = None) -> float:
    """The start of the current UTC month, in epoch seconds."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _merges(totals: Totals) -> str:
    count = "1 merge" if totals.jobs == 1 else f"{totals.jobs} merges"
    return f"{count}, about ${totals.cost_usd:.2f}"


async def usage_view(store: JobStore, limits: Limits, actor: Actor, now: datetime | None = None) -> View:
    """The usage answer for ``actor``, shown only to them."""
    day, resets = day_window(now)
    month = month_start(now)
    where = (actor.platform, actor.workspace_id)
    mine_today = await store.totals_since(*where, day, user_id=actor.user_id)
    mine_month = await store.totals_since(*where, month, user_id=actor.user_id)
    left = max(0, limits.per_user_daily - mine_today.jobs)
    at = f"{resets:%H:%M} UTC"
    lines = [
        "Your usage (costs are estimates):",
        f"Today: {_merges(mine_today)}. {left} of your {limits.per_user_daily} daily merges left (resets at {at}).",
        f"This month: {_merges(mine_month)}.",
    ]
    if actor.is_moderator:
        all_today = await store.totals_since(*where, day)
        all_month = await store.totals_since(*where, month)
        budget = limits.workspace_daily_cost_usd
        budget_left = max(0.0, budget - all_today.cost_usd)
        lines += [
            "This workspace (you are a moderator):",
            f"Today: {_merges(all_today)}. ${budget_left:.2f} of the ${budget:.2f} daily budget left "
            f"(resets at {at}).",
            f"This month: {_merges(all_month)}.",
        ]
    return View(text="\n".join(lines), ephemeral=True)
