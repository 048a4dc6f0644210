"""Turns to gather: how many new merges of this process download and check their files at once.

A burst of mentions would otherwise start every merge's gathering together (downloads,
header checks, blob writes), all of them ahead of the merges that already hold a slot, and
keep the event loop so busy that the platform's next event waits: Slack wants its
acknowledgement within 3 s. Gathering takes a turn (``GatherTurns``) instead; a merge gathers
in well under a second, and merges wait for their slot long after that, so the line ahead
of the slots stays full while the loop stays responsive.

A freed turn goes to the person waiting who is gathering the fewest merges (the longest
wait among them), so one person's ten merges never hold up everyone else's.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable

GATHERING_AT_ONCE = 4  # merges gathering at once in one process (each fetches up to 4 files at once)


class GatherTurns:
    """At most ``at_once`` merges gathering at once; ``wait`` for a turn, ``leave`` when done."""

    def __init__(self, at_once: int = GATHERING_AT_ONCE) -> None:
        self._at_once = at_once
        self._gathering: Counter[Hashable] = Counter()
        self._waiting: list[tuple[Hashable, asyncio.Future[None]]] = []

    def free(self) -> bool:
        """Whether a merge asking now would gather at once."""
        return not self._waiting and sum(self._gathering.values()) < self._at_once

    async def wait(self, owner: Hashable) -> None:
        """Wait for ``owner``'s turn; a cancelled wait takes no turn (and gives back one granted meanwhile)."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((owner, turn))
        self._grant()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(owner)
            else:
                self._waiting = [(who, future) for who, future in self._waiting if future is not turn]
            raise

    def leave(self, owner: Hashable) -> None:
        """``owner``'s merge is done gathering: its turn goes to the next one waiting."""
        self._gathering[owner] -= 1
        if self._gathering[owner] <= 0:
            del self._gathering[owner]
        self._grant()

    def _grant(self) -> None:
        while self._waiting and sum(self._gathering.values()) < self._at_once:
            # The fewest gathering, then the longest wait (the lowest index).
            index = min(range(len(self._waiting)), key=lambda i: (self._gathering[self._waiting[i][0]], i))
            owner, turn = self._waiting.pop(index)
            if turn.done():  # cancelled while waiting
                continue
            self._gathering[owner] += 1
            turn.set_result(None)
