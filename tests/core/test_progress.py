"""The status feed: the merge never waits, the platform sees the latest state at a bounded rate."""

from __future__ import annotations

import asyncio

from bot.model import Progress, Stage
from bot.progress import Pace, RateBudget, StatusFeed, Throttled
from tests.core.chat import eventually

QUICK = Pace(min_interval_s=0.0, queue_interval_s=30.0)


class Platform:
    """A status message on a platform whose calls take as long as the test lets them."""

    def __init__(self) -> None:
        self.shown: list[Progress] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.throttle_next: list[float] = []

    async def publish(self, progress: Progress) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.throttle_next:
                raise Throttled(self.throttle_next.pop(0))
            self.shown.append(progress)
        finally:
            self.in_flight -= 1


def state(text: str, stage: Stage = Stage.GENERATING, **extra: object) -> Progress:
    return Progress(stage, "job1", text, **extra)  # type: ignore[arg-type]


async def test_a_slow_platform_sees_the_first_and_the_latest_state_never_the_ones_between() -> None:
    platform = Platform()
    platform.gate.clear()
    feed = StatusFeed(platform.publish, QUICK)
    feed.offer(state("Fetching"))
    await eventually(lambda: platform.in_flight == 1)
    for index in range(20):
        feed.offer(state(f"preview {index}", partial_index=index, image=b"x"))
    platform.gate.set()
    await eventually(lambda: len(platform.shown) == 2)
    await feed.close()
    assert [p.text for p in platform.shown] == ["Fetching", "preview 19"]
    assert platform.most_in_flight == 1
    assert feed.dropped == 19


async def test_the_reference_sheet_is_shown_before_what_follows_it() -> None:
    platform = Platform()
    platform.gate.clear()
    feed = StatusFeed(platform.publish, QUICK)
    feed.offer(state("Fetching", Stage.FETCHING))
    await eventually(lambda: platform.in_flight == 1)
    feed.offer(state("Building the sheet", Stage.COMPOSING))
    feed.offer(state("Sheet ready", Stage.COMPOSING, image=b"sheet"))
    feed.offer(state("Generating"))
    feed.offer(state("preview 1", image=b"p", partial_index=0))
    platform.gate.set()
    await eventually(lambda: len(platform.shown) == 3)
    await feed.close()
    assert [p.text for p in platform.shown] == ["Fetching", "Sheet ready", "preview 1"]


async def test_offering_never_waits_for_a_rate_limited_platform() -> None:
    platform = Platform()
    platform.throttle_next = [60.0]
    budget = RateBudget(per_minute=50, burst=5)
    feed = StatusFeed(platform.publish, QUICK, budget)
    feed.offer(state("Generating"))
    await eventually(lambda: feed.throttled == 1)
    for index in range(100):  # ``offer`` is not even a coroutine: the merge cannot be held up
        feed.offer(state(f"preview {index}", partial_index=index, image=b"x"))
    assert budget.delay() > 50, "the whole workspace's progress waits out Retry-After"
    assert platform.shown == []
    await feed.close()
    assert platform.shown == [], "closing drops what waited; the final result goes its own way"


async def test_queue_positions_change_the_message_only_when_it_matters() -> None:
    platform = Platform()
    feed = StatusFeed(platform.publish, QUICK)
    for position in range(40, 0, -1):  # a long queue drains within the 30 s queue interval
        feed.offer(state(f"number {position}", Stage.QUEUED, queue_position=position))
        await asyncio.sleep(0)
    await eventually(lambda: platform.shown and platform.shown[-1].queue_position == 1)
    await feed.close()
    assert [p.queue_position for p in platform.shown] == [40, 1], "the first position, then first place"


async def test_a_long_wait_costs_a_handful_of_queue_edits() -> None:
    now = [0.0]
    platform = Platform()
    feed = StatusFeed(platform.publish, Pace(min_interval_s=0.0, queue_interval_s=30.0), clock=lambda: now[0])
    for second in range(600):  # ten minutes in line, moving up one place every 6 s
        now[0] = float(second)
        feed.offer(state("queued", Stage.QUEUED, queue_position=101 - second // 6))
        await asyncio.sleep(0)
    await eventually(lambda: feed.published and not platform.in_flight)
    await feed.close()
    shown_at = [p.queue_position for p in platform.shown]
    assert len(shown_at) <= 6, f"{len(shown_at)} queue edits in ten minutes: {shown_at}"
    assert shown_at[0] == 101


async def test_a_shared_budget_spreads_many_messages_over_the_platform_rate() -> None:
    now = [0.0]
    budget = RateBudget(per_minute=60, burst=3, clock=lambda: now[0])
    taken = 0
    while budget.delay() == 0:
        await budget.wait()
        taken += 1
    assert taken == 3, "a burst, then one a second"
    assert 0.9 < budget.delay() <= 1.0
    budget.spend()  # a final result goes at once, into debt
    assert 1.9 < budget.delay() <= 2.0
    now[0] += 2.0
    assert budget.delay() == 0


async def test_closing_waits_briefly_for_a_call_in_flight_then_stops() -> None:
    platform = Platform()
    platform.gate.clear()
    feed = StatusFeed(platform.publish, QUICK)
    feed.offer(state("Generating"))
    await eventually(lambda: platform.in_flight == 1)
    feed.offer(state("preview 1", partial_index=0, image=b"x"))
    await feed.close(wait_s=0.05)
    assert platform.in_flight == 0 and platform.shown == []
    feed.offer(state("late"))
    await asyncio.sleep(0.01)
    assert platform.shown == [], "nothing shows after close"


async def test_a_status_message_is_edited_at_most_max_edits_times_however_long_the_queue() -> None:
    now = [0.0]
    platform = Platform()
    pace = Pace(min_interval_s=0.0, queue_interval_s=30.0)
    feed = StatusFeed(platform.publish, pace, clock=lambda: now[0])

    async def offer(progress: Progress) -> None:
        feed.offer(progress)
        await eventually(lambda: not platform.in_flight and not feed.pending)

    await offer(state("Fetching", Stage.FETCHING))
    for second in range(3 * 3600):  # three hours in a queue of 2,000, moving up one place every 5 s
        now[0] = float(second)
        feed.offer(state("queued", Stage.QUEUED, queue_position=2001 - second * 2000 // (3 * 3600)))
        await asyncio.sleep(0)
    await offer(state("queued", Stage.QUEUED, queue_position=1))
    for index in range(30):  # a chatty run: many stages, each a second apart
        now[0] += 1.0
        await offer(state(f"step {index}", Stage.GENERATING, image=b"x", partial_index=index))
    await feed.close()

    assert feed.edits == len(platform.shown) == pace.max_edits
    queued = [p.queue_position for p in platform.shown if p.stage is Stage.QUEUED]
    assert len(queued) == pace.max_queue_edits and queued[-1] == 1, queued
    assert queued[0] == 2001
    assert next(p.text for p in platform.shown if p.stage is Stage.GENERATING) == "step 0"


async def test_throttled_calls_count_against_the_cap() -> None:
    platform = Platform()
    platform.throttle_next = [0.0] * 50
    feed = StatusFeed(platform.publish, QUICK)
    for index in range(50):
        feed.offer(state(f"step {index}"))
        await eventually(lambda: not platform.in_flight)
        await asyncio.sleep(0.001)
    await feed.close()
    assert feed.throttled == feed.edits == QUICK.max_edits, "a refused call is still a call to the platform"
