"""At most one refusal notice per person per merge per minute.

A person who spams a reaction or presses a refused button again and again gets one private
answer; the rest are dropped quietly. Keys are kept for a bounded number of people.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

NOTICE_WINDOW_S = 60.0
KEYS_KEPT = 4096


class NoticeThrottle:
    """``allow(person, job)`` is True at most once per ``window_s`` for each pair."""

    def __init__(
        self, window_s: float = NOTICE_WINDOW_S, *, clock: Callable[[], float] = time.monotonic, kept: int = KEYS_KEPT
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._kept = kept
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()

    def allow(self, person: str, job_id: str) -> bool:
        now = self._clock()
        key = (person, job_id)
        last = self._last.get(key)
        if last is not None and now - last < self._window_s:
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self._kept:
            self._last.popitem(last=False)
        return True
