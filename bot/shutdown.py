"""Stopping without losing work: what a SIGTERM does to merges in progress.

The service registers the task that asked for each merge (``track``: the adapter's handler,
which goes on to post the outcome) and every merge waiting for a slot (``waiting``). On
``begin``:

- new merges are refused with a polite "restarting" answer (``stopping``);
- merges still waiting for a slot are released: ``waiting`` raises ``Released`` in them, so
  they tell their person and end, and their jobs stay queued in the store for the next start;
- running merges carry on; ``settle`` waits for every tracked task (the merge and the posting
  of its outcome) up to the grace period, and answers how many were still going.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Released(Exception):
    """A waiting merge was let go because the bot is stopping."""


class Drain:
    """The merges in progress of one service, and whether it is stopping."""

    def __init__(self) -> None:
        self.stopping = False
        self._tracked: set[asyncio.Task[object]] = set()
        self._waiting: set[asyncio.Task[object]] = set()
        self._released: set[asyncio.Task[object]] = set()

    def track(self) -> None:
        """Count the current task (a merge and the posting of its outcome) until it ends."""
        task = asyncio.current_task()
        if task is not None and task not in self._tracked:
            self._tracked.add(task)
            task.add_done_callback(self._tracked.discard)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around waiting for a slot: raises ``Released`` when ``begin`` lets this merge go."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        if self.stopping:
            raise Released
        self._waiting.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._released:
                raise
            self._released.discard(task)
            task.uncancel()
            raise Released from None
        finally:
            self._waiting.discard(task)

    def begin(self) -> int:
        """Stop taking new merges and release the waiting ones; how many were waiting."""
        self.stopping = True
        waiting = list(self._waiting)
        for task in waiting:
            self._released.add(task)
            task.cancel()
        return len(waiting)

    @property
    def in_progress(self) -> int:
        return len(self._tracked)

    async def settle(self, grace_s: float) -> int:
        """Wait up to ``grace_s`` for tracked work to end; how many tasks were still going."""
        pending = {task for task in self._tracked if task is not asyncio.current_task()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace_s)
        return len(pending)
