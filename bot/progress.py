"""Progress as a view of a job's latest state, published within a platform's rate limits.

A merge reports every step it takes; a status message only needs to show the newest one.
``StatusFeed`` sits between the two, one per status message:

- ``offer`` never waits: the merge hands over its state and carries on;
- at most one platform call is in flight per message, and a newer state replaces the one
  waiting to go (latest wins), so a partial preview the platform is too slow for is dropped,
  never queued; the reference sheet is the exception, shown once before what follows it;
- consecutive calls are at least ``min_interval_s`` apart, and queue positions go out only
  when they matter: the first one, first place, or one after ``queue_interval_s`` (doubling
  after each: 30 s, 60 s, 120 s…), so a wait of any length costs a handful of edits;
- a hard cap, whatever the queue or the platform does: at most ``max_edits`` progress calls
  per message (a throttled call counts), of which at most ``max_queue_edits`` show queue
  positions (the last of those kept for first place); the final state comes on top, so with
  the defaults a status message takes at most 10 progress edits and the final one, which must
  land (it waits out a 429 and tries again);
- every feed of one workspace can share a ``RateBudget`` (a token bucket sized to the
  platform's per-method limit); a ``Throttled`` answer (HTTP 429) pauses the whole budget
  for its ``Retry-After`` instead of retrying inside the merge.

``close`` ends the feed before the final result is shown: what was waiting is dropped and a
call in flight gets a short while to land, so no progress edit overwrites the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .model import Progress, Stage

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Publish = Callable[[Progress], Awaitable[None]]

CLOSE_WAIT_S = 2.0


class Throttled(Exception):
    """The platform refused a progress call for now (HTTP 429); try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited for {retry_after_s:g} s")
        self.retry_after_s = max(0.0, retry_after_s)


class RateBudget:
    """A token bucket shared by every status message of one platform method and workspace.

    ``per_minute`` is the platform's documented rate; ``burst`` how many calls may go at once.
    Progress waits for a token (``wait``); a final result takes one without waiting (``spend``),
    which leaves progress less room rather than delaying the result.
    """

    def __init__(self, per_minute: float, burst: float, clock: Clock = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = burst
        self._tokens = burst
        self._clock = clock
        self._stamp = clock()
        self._paused_until = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return now

    def delay(self) -> float:
        """Seconds until a progress call may go (0 when it may go now)."""
        now = self._refill()
        paused = max(0.0, self._paused_until - now)
        missing = max(0.0, 1.0 - self._tokens) / self._rate
        return max(paused, missing)

    def spend(self) -> None:
        """Take a token now, even into debt (a final result, a first post)."""
        self._refill()
        self._tokens -= 1.0

    def pause(self, seconds: float) -> None:
        """The platform said to wait (Retry-After): nobody on this budget calls before then."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def wait(self) -> None:
        """Wait for a token and take it."""
        while (delay := self.delay()) > 0:  # noqa: ASYNC110 (waits for time to refill the bucket, not an event)
            await asyncio.sleep(delay)
        self._tokens -= 1.0


@dataclass(frozen=True)
class Pace:
    """How often, and how many times, one status message may change."""

    min_interval_s: float = 1.0
    queue_interval_s: float = 30.0
    max_edits: int = 10  # progress calls per message; the final state and its fallback come on top
    max_queue_edits: int = 4  # of those, queue positions; the last one is kept for first place


class StatusFeed:
    """The latest state of one status message, published by a single background task."""

    def __init__(
        self,
        publish: Publish,
        pace: Pace = Pace(),
        budget: RateBudget | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._publish = publish
        self._pace = pace
        self._budget = budget
        self._clock = clock
        self._sheet: Progress | None = None  # shown before whatever follows it
        self._latest: Progress | None = None
        self._last_call = float("-inf")
        self._last_queue_shown = float("-inf")
        self._queue_shown = False
        self._queue_interval_s = pace.queue_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.edits = 0  # progress calls made, throttled ones included
        self.queue_edits = 0
        self.published = 0
        self.dropped = 0
        self.throttled = 0

    @property
    def pending(self) -> bool:
        """A state waits to be shown."""
        return self._sheet is not None or self._latest is not None

    def offer(self, progress: Progress) -> None:
        """Make ``progress`` the state to show next; returns at once."""
        if self._closed or progress.stage in (Stage.DONE, Stage.FAILED):
            return  # the outcome replaces the status message; the adapter shows it itself
        if not self._within_caps(progress) or (
            progress.stage is Stage.QUEUED and not self._queue_position_matters(progress)
        ):
            self.dropped += 1
            return
        if progress.image is not None and progress.partial_index is None and self._sheet is None:
            self._sheet = progress
            if self._latest is not None:  # older than the sheet: it would show after it
                self._latest = None
                self.dropped += 1
        else:
            if self._latest is not None:
                self.dropped += 1
            self._latest = progress
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="status-feed")

    async def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Stop publishing: drop what waits, give a call in flight ``wait_s`` to land."""
        self._closed = True
        self._sheet = self._latest = None
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), wait_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _queue_position_matters(self, progress: Progress) -> bool:
        """The first position, first place, or a change once the queue interval has passed;
        the interval doubles after each one shown, so a long wait costs a handful of edits,
        and never more than the pace's ``max_queue_edits`` (the last kept for first place)."""
        if not self._within_caps(progress):
            return False
        if not self._queue_shown or progress.queue_position == 1:
            return True
        return self._clock() - self._last_queue_shown >= self._queue_interval_s

    def _within_caps(self, progress: Progress) -> bool:
        """Room for one more call of this kind under ``max_edits`` and ``max_queue_edits``."""
        if self.edits >= self._pace.max_edits:
            return False
        if progress.stage is not Stage.QUEUED:
            return True
        left = self._pace.max_queue_edits - self.queue_edits
        return left >= (1 if progress.queue_position == 1 else 2)

    def _take(self) -> Progress | None:
        state: Progress | None
        if self._sheet is not None:
            state, self._sheet = self._sheet, None
        else:
            state, self._latest = self._latest, None
        return state

    async def _run(self) -> None:
        while not self._closed:
            if self._sheet is None and self._latest is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._wait_turn()
            state = self._take()
            if state is None or self._closed:
                continue
            if not self._within_caps(state):
                self.dropped += 1  # the cap was reached while it waited its turn
                continue
            if state.stage is Stage.QUEUED:
                if self._queue_shown:
                    self._queue_interval_s *= 2
                self._queue_shown = True
                self._last_queue_shown = self._clock()
                self.queue_edits += 1
            self._last_call = self._clock()
            self.edits += 1
            try:
                await self._publish(state)
                self.published += 1
            except Throttled as exc:
                self.throttled += 1
                if self._budget is not None:
                    self._budget.pause(exc.retry_after_s)
                self._last_call = self._clock() + exc.retry_after_s
                if self._latest is None and state.partial_index is None:
                    self._latest = state  # nothing newer: show this state once the platform allows
            except Exception:
                log.exception("progress update for job %s failed", state.job_id)

    async def _wait_turn(self) -> None:
        """Sleep until this message may change and the shared budget has room."""
        while not self._closed:
            delay = self._last_call + self._pace.min_interval_s - self._clock()
            if delay <= 0 and self._budget is not None:
                delay = self._budget.delay()
            if delay <= 0:
                if self._budget is not None:
                    await self._budget.wait()
                return
            await asyncio.sleep(delay)
