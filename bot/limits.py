"""Usage limits: a fair global queue, per-user concurrency, daily quotas.

A refusal raises ``LimitExceeded`` naming the limit and, for daily ones, when it
resets (the next midnight UTC).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from .errors import LimitExceeded
from .model import Job, Origin
from .settings import Limits
from .store import PER_USER_DAILY, WORKSPACE_DAILY_COST, JobStore, Quota

log = logging.getLogger(__name__)

PositionSink = Callable[[int], Awaitable[None]]


def day_window(now: datetime | None = None) -> tuple[float, datetime]:
    """The start of the current UTC day (epoch seconds) and when the next one begins."""
    now = now or datetime.now(UTC)
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), start + timedelta(days=1)


class FairQueue:
    """A FIFO semaphore that tells each waiter its place in line as it moves."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[asyncio.Queue[bool]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, on_position: PositionSink) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        inbox: asyncio.Queue[bool] = asyncio.Queue()
        self._waiters.append(inbox)
        try:
            await on_position(len(self._waiters))
            while not await inbox.get():  # False: someone ahead left the line
                if inbox in self._waiters:  # not yet handed the slot (True is queued behind)
                    await on_position(self._waiters.index(inbox) + 1)
        except BaseException:
            if inbox in self._waiters:
                self._waiters.remove(inbox)
                self._announce_moves()
            elif inbox.qsize():  # the slot was handed over as we were cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().put_nowait(True)
            self._announce_moves()
        else:
            self._free += 1

    def _announce_moves(self) -> None:
        for inbox in self._waiters:
            inbox.put_nowait(False)


class Limiter:
    """Every limit a merge passes before it runs."""

    def __init__(self, limits: Limits, store: JobStore) -> None:
        self._limits = limits
        self._store = store
        self._queue = FairQueue(limits.global_concurrency)
        self._running: dict[tuple[str, str, str], int] = {}

    async def admit(self, job: Job, reserve_usd: float) -> None:
        """Store ``job`` with its place in the person's daily count and ``reserve_usd`` of the
        workspace's daily budget, or refuse (nothing stored) when either is used up."""
        since, resets = day_window()
        at = f"{resets:%H:%M} UTC"
        quota = Quota(since, self._limits.per_user_daily, self._limits.workspace_daily_cost_usd)
        refused = await self._store.admit(job, reserve_usd, quota)
        if refused == PER_USER_DAILY:
            raise LimitExceeded(
                f"You have used your {self._limits.per_user_daily} merges for today; the count resets at {at}.",
                PER_USER_DAILY,
                resets,
            )
        if refused is not None:
            raise LimitExceeded(
                f"This workspace has reached its daily image budget (${self._limits.workspace_daily_cost_usd:.2f}); "
                f"it resets at {at}.",
                WORKSPACE_DAILY_COST,
                resets,
            )

    @asynccontextmanager
    async def slot(self, origin: Origin, on_position: PositionSink) -> AsyncIterator[None]:
        """Hold one of the person's concurrent merges and one global slot, queueing fairly for the latter."""
        key = (origin.platform, origin.workspace_id, origin.user_id)
        if self._running.get(key, 0) >= self._limits.per_user_concurrency:
            running = self._limits.per_user_concurrency
            message = (
                "You already have a merge running; wait for it to finish and try again."
                if running == 1
                else f"You already have {running} merges running; wait for one to finish and try again."
            )
            raise LimitExceeded(message, "per_user_concurrency")
        self._running[key] = self._running.get(key, 0) + 1
        try:
            await self._queue.acquire(on_position)
            try:
                yield
            finally:
                self._queue.release()
        finally:
            self._running[key] -= 1
            if not self._running[key]:
                del self._running[key]
