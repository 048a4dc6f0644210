"""Daily quotas: merges per person and the workspace's estimated cost, reserved on admission.

A refusal raises ``LimitExceeded`` naming the limit and when it resets (the next
midnight UTC). Concurrency is not limited here: the store's claim enforces it, so
extra merges wait in the queue (``bot.worker``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from .errors import LimitExceeded
from .model import Job
from .settings import Limits
from .store import PER_USER_DAILY, WORKSPACE_DAILY_COST, JobStore, Quota

log = logging.getLogger(__name__)


def day_window(now: datetime | None = None) -> tuple[float, datetime]:
    """The start of the current UTC day (epoch seconds) and when the next one begins."""
    now = now or datetime.now(UTC)
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), start + timedelta(days=1)


class Limiter:
    """The daily limits a merge passes when it is admitted."""

    def __init__(self, limits: Limits, store: JobStore) -> None:
        self._limits = limits
        self._store = store

    async def admit(self, job: Job, reserve_usd: float, *, gatherer: str | None = None) -> None:
        """Store ``job`` with its place in the person's daily count and ``reserve_usd`` of the
        workspace's daily budget, or refuse (nothing stored) when either is used up. ``gatherer``
        holds its lease while it gathers (``JobStore.admit``)."""
        since, resets = day_window()
        at = f"{resets:%H:%M} UTC"
        quota = Quota(since, self._limits.per_user_daily, self._limits.workspace_daily_cost_usd)
        lease_until = time.time() + self._limits.lease_s
        refused = await self._store.admit(job, reserve_usd, quota, gatherer=gatherer, lease_until=lease_until)
        if refused == PER_USER_DAILY:
            daily = self._limits.per_user_daily
            asked = job.options.n
            message = (
                f"You have used your {daily} merges for today; the count resets at {at}."
                if asked == 1
                else f"This merge asks for {asked} variations and each counts as a merge: you have fewer than "
                f"{asked} of your {daily} daily merges left. Ask for fewer, or wait until {at}."
            )
            raise LimitExceeded(message, PER_USER_DAILY, resets)
        if refused is not None:
            raise LimitExceeded(
                f"This workspace has reached its daily image budget (${self._limits.workspace_daily_cost_usd:.2f}); "
                f"it resets at {at}.",
                WORKSPACE_DAILY_COST,
                resets,
            )
